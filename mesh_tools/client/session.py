"""One open document's sync state across connections: channel, handshake, and the outbound update stream.

The invariant that makes reconnects lossless without ever resending blindly: on each connection the
client answers the server's SyncStep1 with a SyncStep2 computed from the document at that moment, which
holds every local change the server lacks (made offline, or sent on a connection that died). Local
updates made after that go out as Update messages, in order. So a change counts as *delivered* on a
connection once the Step2 or the Update that carries it has been written to that connection; ``flush``
waits for that and then asks the server for its durable acknowledgement.

A read-only channel sends nothing local: the server would refuse it. Its Step2 is empty and local
updates (only possible by writing to the raw CRDT) are not queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from pycrdt import YMessageType, YSyncMessageType, create_sync_message, create_update_message, merge_updates
from websockets.exceptions import ConnectionClosed

from ..errors import DocumentNotFoundError, MeshError, ProtocolError
from ..protocol import encode_binary, parse_sync_message, sync_step2_message
from .document import SyncedDocument
from .presence import apply_awareness_message, local_awareness_message

__all__ = ["FROM_SERVER", "DocumentSession", "SendFrame"]

logger = logging.getLogger(__name__)

#: Transaction origin of the updates that came from the server; every other update is sent to it, so
#: edits made under an origin of the caller's own (``document.transaction(origin="agent-7")``) sync too.
FROM_SERVER = "mesh-tools.client:from-server"

#: Writes one binary frame to the connection the session is attached to.
SendFrame: TypeAlias = Callable[[bytes], Awaitable[None]]

# Past this many queued updates they are merged in place, so a long outage of the sender (a slow link)
# costs memory in proportion to the document change, not to the number of edits.
_COMPACT_AT = 256
_EMPTY_UPDATE = b"\x00\x00"
#: y-protocols peers renew their presence every 15 s and drop a peer silent for 30 s.
_PRESENCE_RENEWAL = 15.0


class DocumentSession:
    """Sync state of one document path for a SyncClient; the document itself outlives connections."""

    def __init__(self, path: str, *, create: bool) -> None:
        self.path = path
        self.create = create
        self.refcount = 0
        self.document: SyncedDocument | None = None
        #: Set while a connection holds a channel for this document.
        self.channel: int | None = None
        #: The server opened the channel read-only for this participant: nothing local is sent.
        self.read_only = False
        #: Why syncing stopped for good; every later flush raises it.
        self.error: MeshError | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._local_seq = 0  # local updates made so far
        self._sent_seq = 0  # local updates written to the current connection
        self._streaming = False  # our Step2 is computed: later local updates go out as Updates
        self._ready = False  # our Step2 went out on the current connection
        self._queue: list[bytes] = []
        self._queued_seq = 0  # local updates the queue covers
        self._server_state: bytes | None = None  # a server Step1 still to answer
        self._resync = False  # send our Step1 again: an update from the server could not be applied
        self._presence_due = False  # our awareness state changed (or needs renewing) since we sent it
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<DocumentSession {self.path!r} channel={self.channel} refs={self.refcount}>"

    def bind(self, document: SyncedDocument) -> None:
        """Start following the document's local edits."""
        self.document = document
        stop_updates = document.on_update(self._on_update)
        presence = document.awareness.observe(self._on_presence)

        def unsubscribe() -> None:
            stop_updates()
            document.awareness.unobserve(presence)

        self._unsubscribe = unsubscribe

    @property
    def is_attached(self) -> bool:
        return self.channel is not None

    # -- connection lifecycle ------------------------------------------------------------------

    def attach(self, channel: int, send: SendFrame, epoch: str | None, *, read_only: bool = False) -> None:
        """Bind to a channel the server opened on a new connection and start the handshake.

        ``read_only`` is what the server's open result said: then nothing local goes out.
        Raises DocumentNotFoundError (and attaches nothing) if the server's copy is no longer the one
        this replica descends from: merging into it would duplicate content.
        """
        document = self._document
        if document.epoch is not None and epoch != document.epoch:
            raise DocumentNotFoundError(
                f"{self.path} was replaced on the server (epoch {document.epoch} -> {epoch}); "
                "this replica cannot be merged into the new copy",
                hint="close the document and open it again to get the server's copy",
            )
        document.epoch = epoch
        self.detach()
        self.read_only = read_only
        document._set_read_only(read_only)
        # Whoever is still there is in the snapshot the server sends after its Step1, at clocks this
        # replica may have seen already: forget the clocks too, or the snapshot would look stale.
        awareness = document.awareness
        others = [client for client in awareness.meta if client != awareness.client_id]
        awareness.remove_awareness_states(others, "reconnect")
        for client in others:
            del awareness.meta[client]
        # At a new clock: the server removed us for everyone at the old one when the link dropped.
        self._renew_presence()
        self.channel = channel
        self._sender = asyncio.get_running_loop().create_task(
            self._run_sender(channel, send), name=f"mesh-tools sync sender {self.path}"
        )

    def detach(self) -> None:
        """The connection is gone: forget the channel; the next attach resyncs by state vector."""
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self.channel = None
        self._streaming = False
        self._ready = False
        self._sent_seq = 0
        self._queue.clear()
        self._server_state = None
        self._resync = False
        if self.document is not None:
            self.document._mark_unsynchronized()
        self._progress()

    def fail(self, error: MeshError) -> None:
        """Stop syncing for good, with ``error`` as the reason every waiter gets."""
        self.detach()
        self.error = error
        if self.document is not None:
            self.document._fail(error)
        self._progress()

    def release(self) -> None:
        """Stop following the document and drop its CRDT subscriptions (it stays readable)."""
        self.detach()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.document is not None:
            self.document.close()

    # -- frames --------------------------------------------------------------------------------

    def receive(self, message: bytes) -> None:
        """Handle a y-message the server sent on this document's channel."""
        if message[0] == YMessageType.AWARENESS:
            try:
                apply_awareness_message(self._document.awareness, message, origin=FROM_SERVER)
            except (ValueError, IndexError):
                logger.warning("ignoring a malformed awareness message for %s", self.path)
            return
        if message[0] != YMessageType.SYNC:
            return
        try:
            sync = parse_sync_message(message)
        except ProtocolError:
            logger.warning("ignoring a malformed sync message for %s", self.path, exc_info=True)
            return
        document = self._document
        if sync.kind == YSyncMessageType.SYNC_STEP1:
            self._server_state = sync.payload
            self._wakeup.set()
            return
        try:
            document.apply_update(sync.payload, origin=FROM_SERVER)
        except (ValueError, RuntimeError, MeshError):
            # Not applied, so not lost: a fresh Step1 makes the server send whatever is still missing.
            logger.error("cannot apply an update from the server to %s; resyncing", self.path, exc_info=True)
            self._resync = True
            self._wakeup.set()
            return
        if sync.kind == YSyncMessageType.SYNC_STEP2:
            document._mark_synchronized()

    async def wait_delivered(self) -> int:
        """Wait until every local change made before the call is written to the current connection.

        Returns the channel it went out on; waits through reconnects; raises ``error`` if syncing
        stopped for good.
        """
        target = self._local_seq
        await self._wait_for(lambda: self._ready and self._sent_seq >= target)
        assert self.channel is not None
        return self.channel

    async def _wait_for(self, condition: Callable[[], bool]) -> None:
        while True:
            if self.error is not None:
                raise self.error
            if condition():
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    # -- internals -----------------------------------------------------------------------------

    @property
    def _document(self) -> SyncedDocument:
        assert self.document is not None, "bind() comes first"
        return self.document

    def _on_update(self, update: bytes, origin: Any) -> None:
        # Runs inside the CRDT's transaction callback: only record; the sender task does the I/O.
        if origin == FROM_SERVER or self.read_only:
            return
        self._local_seq += 1
        if not self._streaming:
            return  # the Step2 of the coming handshake carries it
        self._queue.append(update)
        self._queued_seq = self._local_seq
        if len(self._queue) >= _COMPACT_AT:
            self._queue = [merge_updates(*self._queue)]
        self._wakeup.set()

    def _on_presence(self, topic: str, event: tuple[dict[str, Any], Any]) -> None:
        if topic == "update" and event[1] == "local":
            self._presence_due = True
            self._wakeup.set()

    async def _run_sender(self, channel: int, send: SendFrame) -> None:
        document = self._document
        try:
            await send(encode_binary(channel, create_sync_message(document.ydoc)))
            while True:
                try:
                    async with asyncio.timeout(_PRESENCE_RENEWAL):
                        await self._wakeup.wait()
                except TimeoutError:
                    self._renew_presence()
                self._wakeup.clear()
                while True:
                    if self._server_state is not None:
                        # One synchronous block: the Step2 covers the queue exactly as it is now.
                        state, self._server_state = self._server_state, None
                        missing = _EMPTY_UPDATE if self.read_only else document.get_update(state)
                        frame = sync_step2_message(missing)
                        self._queue.clear()
                        covered = self._local_seq
                        self._streaming = True
                        await send(encode_binary(channel, frame))
                        self._ready = True
                    elif self._queue:
                        batch, self._queue = self._queue, []
                        covered = self._queued_seq
                        update = batch[0] if len(batch) == 1 else merge_updates(*batch)
                        await send(encode_binary(channel, create_update_message(update)))
                    elif self._resync:
                        self._resync = False
                        await send(encode_binary(channel, create_sync_message(document.ydoc)))
                        continue
                    elif self._presence_due:
                        self._presence_due = False
                        await send(encode_binary(channel, local_awareness_message(document.awareness)))
                        continue
                    else:
                        break
                    self._sent_seq = max(self._sent_seq, covered)
                    self._progress()
        except ConnectionClosed:
            pass  # the room's read loop sees the close too and detaches every session

    def _renew_presence(self) -> None:
        awareness = self._document.awareness
        state = awareness.get_local_state()
        if state is not None:
            awareness.set_local_state(state)  # a new clock: the peers' 30 s timeout starts over

    def _progress(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
