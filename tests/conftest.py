"""Fixtures every test folder shares: the one secret, the one room server, tokens and clients of it, and
the throwaway Redis and PostgreSQL of the multi-node tests (support/services.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.tokens import ApiScope, ParticipantToken, SyncScope

from .support import (
    DOC_SCHEMA,
    NOTES,
    NOTES_ROOM,
    ROOM,
    ClientFactory,
    MakeToken,
    RawClient,
    RawConnector,
    TcpProxy,
    ThrowawayService,
    flush_redis,
    isolated_postgres_url,
)

# No per-example deadline and no complaint about slow data generation: on a loaded 2-core machine (CI
# beside other jobs) a slow example says nothing about behaviour, and speed has its benchmarks (bench/).
settings.register_profile("mesh-tools", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mesh-tools")

#: The one HS256 secret of the test servers (and of the tokens that reach them).
SECRET = "test-secret-0123456789abcdef0123456789"


@pytest.fixture
def secret() -> str:
    """The secret the ``server`` fixture checks tokens with; pass it to servers a test starts itself."""
    return SECRET


@pytest.fixture
def make_token() -> MakeToken:
    """Mint a participant JWT (signed with the one secret unless ``secret`` says otherwise)."""

    def make(
        *,
        room: str = ROOM,
        name: str = "alice",
        read_only: bool = False,
        paths: list[str] | None = None,
        expiration: timedelta | None = None,
        secret: str = SECRET,
        kid: str | None = None,
    ) -> str:
        scope = ApiScope(sync=SyncScope(read_only=read_only, paths=paths))
        token = ParticipantToken.for_room(name=name, room=room, api=scope, api_key_id=kid)
        return token.to_jwt(token=secret, expiration=expiration)

    return make


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RoomServer]:
    """A RoomServer on a free loopback port, SQLite in ``tmp_path/server``, with the tests' schemas:
    DOC_SCHEMA as ``doc`` in ROOM and NOTES as ``notes`` in NOTES_ROOM."""
    async with RoomServer(data_dir=tmp_path / "server", secret=SECRET) as running:
        await running.storage.put_schema(ROOM, "doc", DOC_SCHEMA.to_json())
        await running.storage.put_schema(NOTES_ROOM, "notes", NOTES.to_json())
        yield running


@pytest.fixture
def raw_client(make_token: MakeToken) -> RawConnector:
    """``raw_client(url, room=ROOM, token=None, **connect_options)``: a RawClient, by default as alice."""

    def connect(
        url: str, *, room: str = ROOM, token: str | None = None, **options: Any
    ) -> contextlib.AbstractAsyncContextManager[RawClient]:
        return RawClient.connect(url, room=room, token=token or make_token(room=room), **options)

    return connect


@pytest.fixture
def room_client(make_token: MakeToken) -> ClientFactory:
    """``room_client(base_url, room, name="tester", **RoomClient_options)``: a RoomClient, not started."""

    def client(base_url: str, room: str, name: str = "tester", **options: float) -> RoomClient:
        url = websocket_room_url(room_name=room, base_url=base_url)
        protocol = WebSocketClientProtocol(url=url, token=make_token(room=room, name=name))
        return RoomClient(protocol=protocol, **options)

    return client


@pytest.fixture
async def proxy(server: RoomServer) -> AsyncIterator[TcpProxy]:
    """A TcpProxy in front of the ``server`` fixture."""
    async with TcpProxy(int(server.url.rsplit(":", 1)[1])) as relay:
        yield relay


@pytest.fixture(scope="session")
def redis_service() -> Iterator[ThrowawayService]:
    service = ThrowawayService.start_new("redis")
    yield service
    service.remove()


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[ThrowawayService]:
    service = ThrowawayService.start_new("postgres")
    yield service
    service.remove()


@pytest.fixture
def postgres_url(postgres_service: ThrowawayService) -> str:
    """A connection URL to empty storage: a schema of its own on the session's PostgreSQL."""
    return isolated_postgres_url(postgres_service)


@pytest.fixture
def redis_url(redis_service: ThrowawayService) -> str:
    """The session's Redis, emptied for this test."""
    flush_redis(redis_service)
    return redis_service.url
