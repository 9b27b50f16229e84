"""One open document across connections: the asyncio shell over its :class:`~mesh_tools.sync.ClientChannel`.

The channel (sans-I/O) decides what to send and when a change counts as delivered; this shell owns what
needs the event loop: the sender task that writes the channel's frames to the connection one at a
time, and the futures that ``flush`` and ``close`` wait on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from pycrdt import YMessageType
from websockets.exceptions import ConnectionClosed

from ..errors import DocumentReplacedError, MeshError
from ..sync import FROM_SERVER, ClientChannel, Received, encode_binary
from ._document import SyncedDocument
from ._presence import apply_awareness_message, local_awareness_message

__all__ = ["DocumentSession", "SendFrame"]

logger = logging.getLogger(__name__)

#: Writes one binary frame to the connection the session is attached to.
SendFrame: TypeAlias = Callable[[bytes], Awaitable[None]]
#: y-protocols peers renew their presence every 15 s and drop a peer silent for 30 s.
_PRESENCE_RENEWAL = 15.0


class DocumentSession:
    """Sync state of one document path for a SyncClient; the document itself outlives connections."""

    def __init__(self, path: str, *, create: bool) -> None:
        self.path = path
        self.create = create
        self.refcount = 0
        self.document: SyncedDocument | None = None
        #: Why syncing stopped for good; every later flush raises it.
        self.error: MeshError | None = None
        self._channel: ClientChannel | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._presence_due = False  # our awareness state changed (or needs renewing) since we sent it

    def __repr__(self) -> str:
        return f"<DocumentSession {self.path!r} channel={self.channel} refs={self.refcount}>"

    def bind(self, document: SyncedDocument) -> None:
        """Start following the document's local edits."""
        self.document = document
        self._channel = ClientChannel(document)
        stop_updates = document.on_update(self._on_update)
        presence = document.awareness.observe(self._on_presence)

        def unsubscribe() -> None:
            stop_updates()
            document.awareness.unobserve(presence)

        self._unsubscribe = unsubscribe

    @property
    def channel(self) -> int | None:
        """Set while a connection holds a channel for this document."""
        return None if self._channel is None else self._channel.channel

    @property
    def read_only(self) -> bool:
        """The server opened the channel read-only for this participant: nothing local is sent."""
        return self._channel is not None and self._channel.read_only

    @property
    def is_attached(self) -> bool:
        return self.channel is not None

    # -- connection lifecycle ------------------------------------------------------------------

    def attach(self, channel: int, send: SendFrame, epoch: str | None, *, read_only: bool = False) -> None:
        """Bind to a channel the server opened on a new connection and start the handshake.

        ``read_only`` is what the server's open result said: then nothing local goes out.
        Raises DocumentReplacedError (and attaches nothing) if the server's copy is no longer the one
        this replica descends from: merging into it would duplicate content.
        """
        document, sync = self._bound
        if document.epoch is not None and epoch != document.epoch:
            raise DocumentReplacedError(
                f"{self.path} was replaced on the server (epoch {document.epoch} -> {epoch}); "
                "this replica cannot be merged into the new copy",
                hint="close the document and open it again to get the server's copy",
            )
        document.epoch = epoch
        self.detach()
        sync.connect(channel, read_only=read_only)
        # Whoever is still there is in the snapshot the server sends after its Step1, at clocks this
        # replica may have seen already: forget the clocks too, or the snapshot would look stale.
        awareness = document.awareness
        others = [client for client in awareness.meta if client != awareness.client_id]
        awareness.remove_awareness_states(others, "reconnect")
        for client in others:
            del awareness.meta[client]
        # At a new clock: the server removed us for everyone at the old one when the link dropped.
        self._renew_presence()
        self._sender = asyncio.get_running_loop().create_task(
            self._run_sender(send), name=f"mesh-tools sync sender {self.path}"
        )

    def detach(self) -> None:
        """The connection is gone: forget the channel; the next attach resyncs by state vector."""
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        if self._channel is not None:
            self._channel.disconnect()
        if self.document is not None:
            self.document.sync_state.mark_unsynchronized()
        self._progress()

    def fail(self, error: MeshError) -> None:
        """Stop syncing for good, with ``error`` as the reason every waiter gets."""
        self.detach()
        self.error = error
        if self.document is not None:
            self.document.sync_state.fail(error)
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
        document, sync = self._bound
        if message[0] == YMessageType.AWARENESS:
            try:
                apply_awareness_message(document.awareness, message, origin=FROM_SERVER)
            except (ValueError, IndexError):
                logger.warning("ignoring a malformed awareness message for %s", self.path)
            return
        if sync.receive(message) is Received.SYNCHRONIZED:
            document.sync_state.mark_synchronized()
        self._wake_sender()

    def apply_from_server(self, update: bytes) -> None:
        """Apply an update the server already holds (it is not sent back)."""
        self._bound[1].apply_from_server(update)

    async def wait_delivered(self) -> int:
        """Wait until every local change made before the call is written to the current connection.

        Returns the channel it went out on; waits through reconnects; raises ``error`` if syncing
        stopped for good.
        """
        sync = self._bound[1]
        mark = sync.mark()
        while True:
            if self.error is not None:
                raise self.error
            if sync.delivered(mark):
                assert sync.channel is not None
                return sync.channel
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    # -- internals -----------------------------------------------------------------------------

    @property
    def _bound(self) -> tuple[SyncedDocument, ClientChannel]:
        assert self.document is not None and self._channel is not None, "bind() comes first"
        return self.document, self._channel

    def _on_update(self, update: bytes, origin: Any) -> None:
        # Runs inside the CRDT's transaction callback: only record; the sender task does the I/O.
        self._bound[1].local_update(update, origin)
        self._wake_sender()

    def _on_presence(self, topic: str, event: tuple[dict[str, Any], Any]) -> None:
        if topic == "update" and event[1] == "local":
            self._presence_due = True
            self._wakeup.set()

    def _renew_presence(self) -> None:
        awareness = self._bound[0].awareness
        state = awareness.get_local_state()
        if state is not None:
            awareness.set_local_state(state)  # a new clock: the peers' 30 s timeout starts over

    def _wake_sender(self) -> None:
        if self._bound[1].wants_to_send:
            self._wakeup.set()

    async def _run_sender(self, send: SendFrame) -> None:
        sync = self._bound[1]
        try:
            while True:
                # next_frame computes each frame just before it is written, so a Step2 covers every
                # change made up to that moment and updates queued behind a slow write go out merged.
                while (outgoing := sync.next_frame()) is not None:
                    await send(outgoing.frame)
                    sync.sent(outgoing)
                    self._progress()
                if self._presence_due and sync.channel is not None:
                    self._presence_due = False
                    awareness = self._bound[0].awareness
                    await send(encode_binary(sync.channel, local_awareness_message(awareness)))
                    continue
                try:
                    async with asyncio.timeout(_PRESENCE_RENEWAL):
                        await self._wakeup.wait()
                except TimeoutError:
                    self._renew_presence()
                self._wakeup.clear()
        except ConnectionClosed:
            pass  # the room's read loop sees the close too and detaches every session

    def _progress(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
