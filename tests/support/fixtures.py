"""The types of the factory fixtures in tests/conftest.py, for annotating test parameters."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any, Protocol

from mesh_tools.client import RoomClient

from .raw_client import RawClient

__all__ = ["ClientFactory", "MakeToken", "RawConnector"]


class MakeToken(Protocol):
    """``make_token(room=ROOM, name="alice", read_only=False, paths=None, expiration=None, ...)``."""

    def __call__(
        self,
        *,
        room: str = ...,
        name: str = ...,
        read_only: bool = ...,
        paths: list[str] | None = ...,
        expiration: timedelta | None = ...,
        secret: str = ...,
        kid: str | None = ...,
    ) -> str: ...


class ClientFactory(Protocol):
    """``room_client(base_url, room, name="tester", **RoomClient_options)``."""

    def __call__(self, base_url: str, room: str, name: str = ..., **options: float) -> RoomClient: ...


class RawConnector(Protocol):
    """``raw_client(url, room=ROOM, token=None, **connect_options)``."""

    def __call__(
        self, url: str, *, room: str = ..., token: str | None = ..., **options: Any
    ) -> contextlib.AbstractAsyncContextManager[RawClient]: ...
