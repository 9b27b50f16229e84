"""A minimal raw client of the room protocol, for testing the server without mesh_tools.client.

It speaks docs/protocol.md directly (JSON requests, channel-prefixed y-sync frames) so the server is
tested independently of mesh_tools.client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pycrdt import YMessageType, YSyncMessageType, create_sync_message, create_update_message
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mesh_tools.document import MeshDocument
from mesh_tools.errors import MeshError
from mesh_tools.schema import MeshSchema
from mesh_tools.sync import (
    Push,
    Request,
    Response,
    decode_binary,
    decode_text,
    encode_binary,
    encode_text,
    parse_sync_message,
    sync_step2_message,
)

from .schemas import ROOM

__all__ = ["RawClient", "RawDocument", "error_code"]


@dataclass(eq=False)
class RawDocument:
    """A replica bound to a channel; local edits are sent as they happen."""

    client: RawClient
    channel: int
    doc: MeshDocument
    epoch: str
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, predicate: Any, *, what: str, timeout: float = 5.0) -> None:
        """Wait until ``predicate(doc)`` holds (checked after every remote change); fail naming ``what``."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self.doc):
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"channel {self.channel}: timed out after {timeout:g} s waiting until {what}"
            ) from None


class RawClient:
    """One connection: requests with ids, pushes collected in ``pushes``, replicas by channel."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pushes: asyncio.Queue[Push] = asyncio.Queue()
        self.awareness: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.documents: dict[int, RawDocument] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        # Every frame goes through one queue, so local edits leave before a later flush request.
        self._outgoing: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self._writer = asyncio.create_task(self._write())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, *, token: str, room: str = ROOM, **kwargs: Any
    ) -> AsyncIterator[RawClient]:
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(f"{url}/rooms/{room}", additional_headers=headers, **kwargs) as connection:
            client = cls(connection)
            try:
                yield client
            finally:
                for task in (client._reader, client._writer):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task

    async def request(self, type_: str, **params: Any) -> dict[str, Any]:
        """Send a request and return its result, raising the typed error it came back with."""
        request_id = next(self._ids)
        future = self._pending[request_id] = asyncio.get_running_loop().create_future()
        self._outgoing.put_nowait(encode_text(Request(request_id, type_, params)))
        async with asyncio.timeout(10):
            response = await future
        if response.error is not None:
            raise response.error
        assert response.result is not None
        return response.result

    async def open(self, path: str, *, create: bool = True) -> RawDocument:
        result = await self.request("sync.open", path=path, create=create)
        doc = MeshDocument(schema=MeshSchema.from_json(result["schema"]))
        raw = self.documents[result["channel"]] = RawDocument(self, result["channel"], doc, result["epoch"])
        doc.on_update(lambda update, origin: self._local_update(raw, update, origin))
        await self.send_frame(raw.channel, create_sync_message(doc.ydoc))
        async with asyncio.timeout(10):
            await raw.synced.wait()
        return raw

    async def send_frame(self, channel: int, message: bytes) -> None:
        self._outgoing.put_nowait(encode_binary(channel, message))

    async def next_push(self, timeout: float = 5.0) -> Push:
        try:
            async with asyncio.timeout(timeout):
                return await self.pushes.get()
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for a push from the server"
            ) from None

    def _local_update(self, raw: RawDocument, update: bytes, origin: Any) -> None:
        if origin is None:  # a local edit, not an update that came from the server
            self._outgoing.put_nowait(encode_binary(raw.channel, create_update_message(update)))

    async def _write(self) -> None:
        while True:
            await self.connection.send(await self._outgoing.get())

    async def _read(self) -> None:
        async for frame in self.connection:
            if isinstance(frame, str):
                message = decode_text(frame)
                if isinstance(message, Response):
                    self._pending.pop(message.id).set_result(message)
                elif isinstance(message, Push):
                    self.pushes.put_nowait(message)
                continue
            channel, body = decode_binary(frame)
            raw = self.documents.get(channel)
            if body[0] == YMessageType.AWARENESS:
                self.awareness.put_nowait((channel, body))
            if raw is None or body[0] != YMessageType.SYNC:
                continue
            sync = parse_sync_message(body)
            if sync.kind is YSyncMessageType.SYNC_STEP1:
                await self.send_frame(channel, sync_step2_message(raw.doc.get_update(sync.payload)))
                continue
            raw.doc.apply_update(sync.payload)
            if sync.kind is YSyncMessageType.SYNC_STEP2:
                raw.synced.set()
            raw.changed.set()


def error_code(exc: BaseException) -> str:
    assert isinstance(exc, MeshError), exc
    return exc.code
