"""One connected participant's outbound side: a bounded send queue drained by a single sender task.

Everything the server sends a participant (responses, pushes, sync frames) goes through the queue, so
frames leave in the order they were produced. The queue is bounded in frames and in bytes: a
participant that reads too slowly fills it and is closed with 1013 instead of making the room buffer
without bound (a few idle readers of big updates would otherwise hold hundreds of MiB); it reconnects
and resyncs by state vector, losing nothing. One frame is always accepted into an empty queue, however
big, so a large update still reaches a reader that keeps up.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..sync import CloseCode, Message, encode_text
from ..tokens import ParticipantToken

__all__ = ["Participant"]

logger = logging.getLogger(__name__)


class Participant:
    """A connection, the token it authenticated with, and its send queue."""

    def __init__(
        self, connection: ServerConnection, token: ParticipantToken, *, queue_size: int, queue_bytes: int
    ) -> None:
        self.connection = connection
        self.token = token
        self._queue: asyncio.Queue[str | bytes] = asyncio.Queue(queue_size)
        self._queue_bytes = queue_bytes
        self._queued_bytes = 0
        self._sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Participant {self.token.name!r} {self.connection.remote_address}>"

    @property
    def closing(self) -> bool:
        """True once the server decided to close the connection; nothing more is queued."""
        return self._closing is not None

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"sender {self.token.name}")

    def send(self, frame: str | bytes) -> None:
        """Queue a frame; a full queue means the participant is too slow and gets evicted."""
        if self._closing is not None:
            return
        size = len(frame)
        if self._queued_bytes + size > self._queue_bytes and not self._queue.empty():
            self._overflow(f"{self._queued_bytes + size:,} bytes")
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._overflow(f"{self._queue.qsize()} frames")
            return
        self._queued_bytes += size

    def _overflow(self, queued: str) -> None:
        logger.warning("%r read too slowly (send queue full at %s): closing with 1013", self, queued)
        self.close(CloseCode.TRY_AGAIN_LATER, "send queue overflow: reconnect and resync")

    def send_message(self, message: Message) -> None:
        self.send(encode_text(message))

    def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` (in the background: the caller may be the room)."""
        if self._closing is None:
            self._closing = asyncio.create_task(self.connection.close(code, reason))

    async def stop(self) -> None:
        """Stop sending (the connection is gone or going) and wait for the background tasks."""
        if self._sender is not None:
            self._sender.cancel()
        tasks = [task for task in (self._sender, self._closing) if task is not None]
        # The sender ends cancelled and a close may race the peer's; neither outcome needs handling.
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_loop(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                await self.connection.send(frame)
                self._queued_bytes -= len(frame)
        except ConnectionClosed:
            return
