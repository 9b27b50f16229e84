"""One connected participant's outbound side: a bounded send queue drained by a single sender task.

Everything the server sends a participant (responses, pushes, sync frames) goes through the queue, so
frames leave in the order they were produced. A participant that reads too slowly fills its queue and is
closed with 1013 instead of making the room buffer without bound; it reconnects and resyncs by state
vector, losing nothing.
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

    def __init__(self, connection: ServerConnection, token: ParticipantToken, *, queue_size: int) -> None:
        self.connection = connection
        self.token = token
        self._queue: asyncio.Queue[str | bytes] = asyncio.Queue(queue_size)
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
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            logger.warning("%r read too slowly (send queue full): closing with 1013", self)
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
                await self.connection.send(await self._queue.get())
        except ConnectionClosed:
            return
