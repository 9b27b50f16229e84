"""pycrdt's ``Channel`` over a websockets connection, for pycrdt's ``Provider`` and pycrdt-websocket."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

__all__ = ["WebsocketChannel"]


class WebsocketChannel:
    """A connection seen as the byte-message channel pycrdt expects.

    With ``sync_only``, frames other than y-sync (awareness, auth) are set aside in ``others`` for the
    caller to read: pycrdt's ``Provider`` handles sync messages only.
    """

    def __init__(
        self, connection: ClientConnection | ServerConnection, path: str, *, sync_only: bool = False
    ) -> None:
        self.connection = connection
        self._path = path
        self._sync_only = sync_only
        self.others: asyncio.Queue[bytes] = asyncio.Queue()

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WebsocketChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        await self.connection.send(message)

    async def recv(self) -> bytes:
        while True:
            message = await self.connection.recv()
            assert isinstance(message, bytes), "y-websocket peers send binary frames only"
            if not self._sync_only or message[0] == 0:
                return message
            self.others.put_nowait(message)
