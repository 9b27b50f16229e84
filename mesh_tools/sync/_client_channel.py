"""The client end of one document's sync, across connections: handshake, outbound stream, delivery.

The invariant that makes reconnects lossless without ever resending blindly: on each connection the
client answers the server's SyncStep1 with a SyncStep2 computed from the document at that moment, which
holds every local change the server lacks (made offline, or sent on a connection that died). Local
updates made after that go out as Update messages, in order. So a change counts as *delivered* on a
connection once the Step2 or the Update that carries it has been written to that connection; ``flush``
waits for that and then asks the server for its durable acknowledgement.

A read-only channel sends nothing local: the server would refuse it. Its Step2 is empty and local
updates (only possible by writing to the raw CRDT) are not queued.

Nothing here does I/O. The shell feeds in what the server sent (:meth:`ClientChannel.receive`) and
what the replica did (:meth:`ClientChannel.local_update`), writes the frames :meth:`ClientChannel.next_frame`
hands out, and reports each one written (:meth:`ClientChannel.sent`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from pycrdt import YMessageType, YSyncMessageType, create_update_message, merge_updates

from ..errors import MeshError, ProtocolError
from ._constants import EMPTY_UPDATE
from ._frames import encode_binary, parse_sync_message, sync_step2_message
from ._handshake import Replica, sync_step1, sync_step2

__all__ = ["FROM_SERVER", "ClientChannel", "ClientReplica", "Outgoing", "Received"]

logger = logging.getLogger(__name__)

#: Transaction origin of the updates that came from the server; every other update is sent to it, so
#: edits made under an origin of the caller's own (``document.transaction(origin="agent-7")``) sync too.
FROM_SERVER = "mesh-tools.client:from-server"

# Past this many queued updates they are merged in place, so a long outage of the sender (a slow link)
# costs memory in proportion to the document change, not to the number of edits.
_COMPACT_AT = 256


class ClientReplica(Replica, Protocol):
    """A replica the client end can also apply the server's updates to."""

    def apply_update(
        self, update: bytes, origin: Any = ..., *, check: bool = ..., as_is: bool = ...
    ) -> Any: ...


class Received(Enum):
    """What a y-message from the server did to the channel."""

    #: Awareness, or a malformed message: nothing changed.
    IGNORED = "ignored"
    #: The server's SyncStep1: the answering Step2 is due.
    STATE = "state"
    #: An update from the server was applied to the replica.
    APPLIED = "applied"
    #: The server's SyncStep2 was applied: the replica holds everything the server had.
    SYNCHRONIZED = "synchronized"
    #: An update could not be applied; a fresh Step1 is due so the server sends what is missing.
    RESYNC = "resync"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame to write, and the delivery it proves once written."""

    frame: bytes
    #: The connection (numbered by :meth:`ClientChannel.connect`) the frame belongs to.
    connection: int
    #: Local updates the frame carries, counted from the first; None when it carries none.
    covers: int | None = None
    #: The frame is our SyncStep2: the stream of Updates starts after it.
    answers_handshake: bool = False


class ClientChannel:
    """One document's sync state on the client; the replica and the counters outlive connections."""

    def __init__(self, replica: ClientReplica) -> None:
        self.replica = replica
        #: Set while a connection holds a channel for this document.
        self.channel: int | None = None
        #: The server opened the channel read-only for this participant: nothing local is sent.
        self.read_only = False
        self._connection = 0  # bumped by every connect, so frames of an older connection are told apart
        self._local = 0  # local updates made so far
        self._sent = 0  # local updates written to the current connection
        self._greeting = False  # our Step1 is due on the current connection
        self._streaming = False  # our Step2 is computed: later local updates go out as Updates
        self._ready = False  # our Step2 went out on the current connection
        self._queue: list[bytes] = []
        self._queued = 0  # local updates the queue covers
        self._server_state: bytes | None = None  # a server Step1 still to answer
        self._resync = False  # send our Step1 again: an update from the server could not be applied

    def __repr__(self) -> str:
        return f"<ClientChannel channel={self.channel} local={self._local} sent={self._sent}>"

    # -- connections ---------------------------------------------------------------------------

    def connect(self, channel: int, *, read_only: bool) -> None:
        """A new connection opened ``channel`` for the document: start the handshake on it."""
        self.disconnect()
        self._connection += 1
        self.channel = channel
        self.read_only = read_only
        self._greeting = True

    def disconnect(self) -> None:
        """The connection is gone: forget the channel; the next connect resyncs by state vector."""
        self.channel = None
        self._greeting = False
        self._streaming = False
        self._ready = False
        self._sent = 0
        self._queue.clear()
        self._server_state = None
        self._resync = False

    # -- input ---------------------------------------------------------------------------------

    def local_update(self, update: bytes, origin: Any) -> None:
        """Record an update the replica made (its update listener calls this inside the transaction)."""
        if origin == FROM_SERVER or self.read_only:
            return
        self._local += 1
        if not self._streaming:
            return  # the Step2 of the coming handshake carries it
        self._queue.append(update)
        self._queued = self._local
        if len(self._queue) >= _COMPACT_AT:
            self._queue = [merge_updates(*self._queue)]

    def receive(self, message: bytes) -> Received:
        """Handle a y-message the server sent on this channel."""
        if message[0] != YMessageType.SYNC:
            return Received.IGNORED  # awareness: this client keeps no presence state
        try:
            sync = parse_sync_message(message)
        except ProtocolError:
            logger.warning("ignoring a malformed sync message on channel %s", self.channel, exc_info=True)
            return Received.IGNORED
        if sync.kind == YSyncMessageType.SYNC_STEP1:
            self._server_state = sync.payload
            return Received.STATE
        try:
            self.apply_from_server(sync.payload, answer=sync.kind == YSyncMessageType.SYNC_STEP2)
        except (ValueError, RuntimeError, MeshError):
            # Not applied, so not lost: a fresh Step1 makes the server send whatever is still missing.
            logger.error("cannot apply an update from the server; resyncing", exc_info=True)
            self._resync = True
            return Received.RESYNC
        return Received.SYNCHRONIZED if sync.kind == YSyncMessageType.SYNC_STEP2 else Received.APPLIED

    def apply_from_server(self, update: bytes, *, answer: bool = False) -> None:
        """Apply an update the server already holds (so it is not sent back).

        Not checked against the schema: the server checked it (and mended what broke it) before
        relaying, so checking again would only cost the client a document walk per update or load.
        ``answer``: the update is the server's SyncStep2, what it holds beyond the state vector this
        replica sent, so only structs the replica lacks (updates reach a channel only after it): update
        listeners get it as it came, instead of pycrdt encoding the transaction's update again (a first
        sync's is the whole document, and cost a sixth of the client's load).
        """
        self.replica.apply_update(update, origin=FROM_SERVER, check=False, as_is=answer)

    # -- output --------------------------------------------------------------------------------

    @property
    def wants_to_send(self) -> bool:
        """True while :meth:`next_frame` has a frame for the current connection."""
        return self.channel is not None and bool(
            self._greeting or self._server_state is not None or self._queue or self._resync
        )

    def next_frame(self) -> Outgoing | None:
        """The next frame to write to the current connection, or None; computed now, not when queued.

        Our Step1 comes first, then the answer to the server's Step1 (covering every local update made
        so far, queued or not), then queued Updates merged into one, then a Step1 asking to resync.
        """
        if self.channel is None:
            return None
        if self._greeting:
            self._greeting = False
            return self._outgoing(sync_step1(self.replica))
        if self._server_state is not None:
            state, self._server_state = self._server_state, None
            try:
                answer = (
                    sync_step2_message(EMPTY_UPDATE) if self.read_only else sync_step2(self.replica, state)
                )
            except ProtocolError:
                logger.warning("ignoring the server's SyncStep1 on channel %s", self.channel, exc_info=True)
                return self.next_frame()
            self._queue.clear()
            self._streaming = True
            return self._outgoing(answer, covers=self._local, answers_handshake=True)
        if self._queue:
            batch, self._queue = self._queue, []
            update = batch[0] if len(batch) == 1 else merge_updates(*batch)
            return self._outgoing(create_update_message(update), covers=self._queued)
        if self._resync:
            self._resync = False
            return self._outgoing(sync_step1(self.replica))
        return None

    def sent(self, outgoing: Outgoing) -> None:
        """``outgoing`` was written to its connection: what it carries counts as delivered there."""
        if outgoing.connection != self._connection or self.channel is None:
            return
        if outgoing.answers_handshake:
            self._ready = True
        if outgoing.covers is not None:
            self._sent = max(self._sent, outgoing.covers)

    # -- delivery ------------------------------------------------------------------------------

    def mark(self) -> int:
        """A mark for every local change made so far; pass it to :meth:`delivered`."""
        return self._local

    def delivered(self, mark: int) -> bool:
        """True once every local change up to ``mark`` was written to the current connection."""
        return self.channel is not None and self._ready and self._sent >= mark

    def _outgoing(
        self, message: bytes, *, covers: int | None = None, answers_handshake: bool = False
    ) -> Outgoing:
        assert self.channel is not None
        return Outgoing(encode_binary(self.channel, message), self._connection, covers, answers_handshake)
