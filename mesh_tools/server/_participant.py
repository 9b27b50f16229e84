"""One connected participant's outbound side: a send queue bounded in bytes, drained by one sender task.

Everything the server sends a participant (responses, pushes, sync frames) goes through the queue, so
frames leave in the order they were produced, with one exception that makes slow readers cheap: document
updates for a channel that already has updates waiting are merged into them (``merge_updates``), so a
reader that falls behind holds one pending update per channel, sized by how much the documents changed,
not by how many edits were made. Merging only moves an update earlier, which a CRDT does not mind.

A reader is closed with 1013 only when what is queued for it, after merging, exceeds ``queue_bytes``, so
a few idle readers of big updates cannot make the room buffer hundreds of MiB. The oldest entry, as it
was produced, is not counted, so a large update or resync still reaches a reader that keeps up. A
closed reader reconnects and resyncs by state vector, losing nothing. Fast writers and clients that
open many documents at once are never closed for the number of frames.

Each update sent is remembered for a while (``SentUpdates``, the last 1,024 or 1 MiB): a client that sends
back every update its replica applies (pycrdt's ``Provider``) has its echoes dropped unread.

On each turn the sender takes everything queued since its last one and writes it to the socket at once
(``send_frames``): one system call per batch instead of one per frame. Each participant has its own
sender, so a reader whose socket is full waits alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pycrdt import create_update_message, merge_updates
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..sync import CloseCode, Message, encode_text
from ..tokens import ParticipantToken
from ._frame_writer import send_frames
from ._sent_updates import SentUpdates

__all__ = ["Participant"]

logger = logging.getLogger(__name__)

#: Updates a pending entry collects before they are merged: merging each one into the rest would cost
#: O(backlog) per update; batches keep it amortised while bounding the list.
_MERGE_EVERY = 64
#: Bytes of frames the sender joins into one socket write at most (a bigger frame goes alone).
_BATCH_BYTES = 256 * 1024
#: Bytes of the updates last sent that are remembered to recognise their echoes: a reader in a busy room
#: sends back what it got within a round trip, and a behind reader's merged update is ~ what the
#: document grew by meanwhile (a few hundred KiB in bench/writers.py with 50 writers).
_ECHO_MEMORY_BYTES = 1024 * 1024
#: ... and at most this many of them (a reader that keeps up is sent every edit alone, ~40 bytes each).
_ECHO_MEMORY_UPDATES = 1024


@dataclass(slots=True)
class _PendingUpdates:
    """The updates waiting for one channel, sent as one update message."""

    key: object
    updates: list[bytes]
    #: The ready-made frame while the entry holds the single update it was queued with.
    frame: bytes | None
    #: Makes a channel frame of a y-message (the channel's prefix).
    frame_of: Callable[[bytes], bytes]
    size: int

    def add(self, update: bytes) -> None:
        self.frame = None
        self.updates.append(update)
        if len(self.updates) >= _MERGE_EVERY:
            self.updates = [merge_updates(*self.updates)]
        self.size = sum(len(u) for u in self.updates)

    def take(self) -> tuple[bytes, bytes]:
        """The update to send and its frame."""
        if self.frame is not None:
            return self.updates[0], self.frame
        update = self.updates[0] if len(self.updates) == 1 else merge_updates(*self.updates)
        return update, self.frame_of(create_update_message(update))


class Participant:
    """A connection, the token it authenticated with, and its send queue."""

    def __init__(self, connection: ServerConnection, token: ParticipantToken, *, queue_bytes: int) -> None:
        self.connection = connection
        self.token = token
        self._queue_bytes = queue_bytes
        self._queue: deque[str | bytes | _PendingUpdates] = deque()
        self._queued_bytes = 0
        #: Entries still queued, by channel key: later updates for the channel merge into them.
        self._pending: dict[object, _PendingUpdates] = {}
        self._sent = SentUpdates(_ECHO_MEMORY_BYTES, _ECHO_MEMORY_UPDATES)
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Participant {self.token.name!r} {self.connection.remote_address}>"

    @property
    def closing(self) -> bool:
        """True once the server decided to close the connection; nothing more is queued."""
        return self._closing is not None

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting to be sent, after merging."""
        return self._queued_bytes

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"sender {self.token.name}")

    def send(self, frame: str | bytes) -> None:
        """Queue a frame."""
        if self._closing is None:
            self._push(frame, len(frame))

    def send_message(self, message: Message) -> None:
        self.send(encode_text(message))

    def send_update(
        self, key: object, update: bytes, frame: bytes, frame_of: Callable[[bytes], bytes]
    ) -> None:
        """Queue a document update for the channel ``key``; ``frame`` carries it as that channel's frame.

        If updates for the channel are still waiting, this one is merged into them instead;
        ``frame_of`` then frames the merged update message.
        """
        if self._closing is not None:
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _PendingUpdates(key, [update], frame, frame_of, len(update))
            self._push(pending, len(update))
            return
        before = pending.size
        pending.add(update)
        self._queued_bytes += pending.size - before
        self._check_budget()

    def echoed(self, key: object, update: bytes) -> bool:
        """True if ``update`` is, byte for byte, one this participant was sent on the channel ``key``:
        it comes back as it went, and the replica holds it already. Each is recognised once."""
        return self._sent.echoed(key, update)

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

    def _push(self, entry: str | bytes | _PendingUpdates, size: int) -> None:
        self._queue.append(entry)
        self._queued_bytes += size
        self._ready.set()
        self._check_budget()

    def _check_budget(self) -> None:
        if self._queued_bytes <= self._queue_bytes or not self._queue:
            return
        # The oldest entry, as it was produced, does not count: a big frame (a resync of a big document)
        # still reaches a reader that keeps up. An entry that grew by merging counts in full.
        head = self._queue[0]
        unmerged = isinstance(head, (str, bytes)) or head.frame is not None
        exempt = (len(head) if isinstance(head, (str, bytes)) else head.size) if unmerged else 0
        if self._queued_bytes - exempt <= self._queue_bytes:
            return
        logger.warning(
            "%r read too slowly (%s bytes queued after merging): closing with 1013",
            self,
            f"{self._queued_bytes:,}",
        )
        self.close(CloseCode.TRY_AGAIN_LATER, "send queue overflow: reconnect and resync")

    async def _send_loop(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._ready.clear()
                    await self._ready.wait()
                await send_frames(self.connection, self._take_batch())
        except ConnectionClosed:
            return

    def _take_batch(self) -> list[str | bytes]:
        """Every frame queued since the sender's last turn, up to ``_BATCH_BYTES`` (at least one)."""
        frames: list[str | bytes] = []
        size = 0
        while self._queue and (not frames or size < _BATCH_BYTES):
            entry = self._queue.popleft()
            if isinstance(entry, _PendingUpdates):
                del self._pending[entry.key]
                self._queued_bytes -= entry.size
                update, frame = entry.take()
                self._sent.remember(entry.key, update)
                frames.append(frame)
                size += len(frame)
            else:
                self._queued_bytes -= len(entry)
                frames.append(entry)
                size += len(entry)
        return frames
