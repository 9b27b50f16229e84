"""The server end of one document channel: the handshake, the read-only rule, and announced awareness.

The server greets a new channel with its SyncStep1 and answers the peer's Step1 at once with a Step2;
from then on the channel is *live* and gets every other participant's updates. Changes made before that
reach it inside the Step2, so nothing is sent twice and nothing is missed. Nothing here does I/O: the
shell sends the frames these methods return and applies the updates they hand back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycrdt import YMessageType, YSyncMessageType

from ..errors import PermissionDeniedError
from ._awareness import awareness_clocks, awareness_removal_message
from ._constants import EMPTY_UPDATE, QUERY_AWARENESS
from ._frames import encode_binary, parse_sync_message, sync_step2_frame
from ._handshake import Replica, sync_step1, sync_step2

__all__ = ["Inbound", "ServerChannel"]


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a y-message from the peer asks of the server; at most one field is set."""

    #: A frame to send back on the same channel (the answer to the peer's Step1).
    reply: bytes | None = None
    #: An update for the document to apply (then fan out to the other live channels).
    update: bytes | None = None
    #: An awareness message to relay to every live channel of the document, the sender's included.
    awareness: bytes | None = None
    #: The peer asked for every awareness state (QueryAwareness).
    presence_query: bool = False


@dataclass(eq=False, slots=True)
class ServerChannel:
    """One channel of one connection, bound to a document."""

    number: int
    read_only: bool
    #: Set once the server answered the peer's SyncStep1; only live channels get updates.
    live: bool = False
    #: Awareness client ids announced on this channel, with their last clock.
    awareness: dict[int, int] = field(default_factory=dict)

    def frame(self, message: bytes) -> bytes:
        """A y-message as a binary frame of this channel."""
        return encode_binary(self.number, message)

    def greeting(self, replica: Replica) -> bytes:
        """The server's SyncStep1: the peer answers with what the server lacks."""
        return self.frame(sync_step1(replica))

    def answer(self, update: bytes, frames: dict[int, bytes] | None = None) -> bytes:
        """The SyncStep2 frame answering the peer's Step1 with ``update``, all it lacks, computed by the
        caller elsewhere (a big document's stored state); the channel is live from now on.

        ``frames``: the frames of this answer made so far, by channel number, shared by the channels
        it answers (clients number their channels alike). A big document's answer is megabytes, and
        each copy of it (page faults included) holds the GIL for milliseconds.
        """
        self.live = True
        frame = frames.get(self.number) if frames is not None else None
        if frame is None:
            frame = sync_step2_frame(self.number, update)
            if frames is not None:
                frames[self.number] = frame
        return frame

    def receive(self, replica: Replica, message: bytes, *, path: str) -> Inbound:
        """Handle a y-message (checked by ``decode_binary``) from the peer.

        Raises ProtocolError for a malformed message and PermissionDeniedError (naming ``path``) for
        an update on a read-only channel; the channel stays as it was.
        """
        if message[0] == YMessageType.AWARENESS:
            for client, clock in awareness_clocks(message).items():
                if clock is None:
                    self.awareness.pop(client, None)
                else:
                    self.awareness[client] = clock
            return Inbound(awareness=message)
        if message[0] == QUERY_AWARENESS:
            return Inbound(presence_query=True)
        sync = parse_sync_message(message)
        if sync.kind is YSyncMessageType.SYNC_STEP1:
            reply = self.frame(sync_step2(replica, sync.payload))
            self.live = True
            return Inbound(reply=reply)
        if sync.payload == EMPTY_UPDATE:
            return Inbound()
        if self.read_only:
            raise PermissionDeniedError(
                f"this token may only read {path!r}; the update was dropped",
                hint="ask for a token with read-write sync scope",
            )
        return Inbound(update=sync.payload)

    def awareness_removal(self) -> bytes | None:
        """The awareness message that removes every client this channel announced, if it announced any."""
        return awareness_removal_message(self.awareness) if self.awareness else None
