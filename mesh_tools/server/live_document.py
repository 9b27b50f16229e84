"""A document loaded in a room: its replica, the channels subscribed to it, persistence and fan-out.

Every change, whoever makes it, is one pycrdt transaction; the document's update listener appends the
transaction's update to the storage log (in order) and to an outbox. ``MeshDocument.apply_update``
reports the schema violations an incoming update brought in; the server mends them with one edit of its
own, then sends the outbox to every live subscriber except the one the change came from — so other
replicas never see a schema-breaking state, and the sender gets the server's repair.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import YSyncMessageType, create_sync_message, create_update_message, merge_updates

from .._update_guard import check_update
from ..document import MeshDocument, Violation
from ..errors import MeshError, PermissionDeniedError, ProtocolError, ServerError
from ..protocol import (
    Push,
    PushType,
    SyncMessage,
    awareness_clocks,
    awareness_removal_message,
    encode_binary,
    sync_step2_message,
)
from .participant import Participant
from .storage import Storage

__all__ = ["SERVER_ORIGIN", "LiveDocument", "Subscriber"]

logger = logging.getLogger(__name__)

#: Origin of the server's own edits (schema repairs, ``sync.sync`` data): no subscriber is excluded.
SERVER_ORIGIN = "mesh-tools-server"
_EMPTY_UPDATE = b"\x00\x00"


@dataclass(eq=False, slots=True)
class Subscriber:
    """One channel of one participant, bound to a document. Hashable by identity (a CRDT origin)."""

    participant: Participant
    channel: int
    document: LiveDocument
    read_only: bool
    #: Set once the server answered the subscriber's SyncStep1; only live subscribers get updates.
    live: bool = field(default=False)
    #: Cleared when the channel is closed, by the participant or by the server.
    active: bool = field(default=True)
    #: Awareness client ids announced on this channel, with their last clock.
    awareness: dict[int, int] = field(default_factory=dict)


class LiveDocument:
    """A loaded document; ``holds`` counts the subscribers and requests using it."""

    def __init__(
        self,
        *,
        room: str,
        path: str,
        doc: MeshDocument,
        epoch: str,
        storage: Storage,
        on_idle: Callable[[LiveDocument], None],
    ) -> None:
        self.room = room
        self.path = path
        self.doc = doc
        self.epoch = epoch
        self.holds = 0
        self.closed = False
        #: Resolves once the latest change is durable (changes are stored in order).
        self.last_write: asyncio.Future[None] | None = None
        self._storage = storage
        self._on_idle = on_idle
        self._subscribers: list[Subscriber] = []
        self._outbox: list[tuple[bytes, Any]] = []
        doc.on_update(self._on_update)

    def __repr__(self) -> str:
        return f"<LiveDocument {self.room}/{self.path} subscribers={len(self._subscribers)}>"

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        return tuple(self._subscribers)

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, participant: Participant, channel: int, *, read_only: bool) -> Subscriber:
        """Bind a channel; the caller answers the open request, then calls :meth:`greet`."""
        subscriber = Subscriber(participant, channel, self, read_only)
        self._subscribers.append(subscriber)
        self.holds += 1
        return subscriber

    def greet(self, subscriber: Subscriber) -> None:
        """Send the server's SyncStep1: the subscriber answers with what the server lacks."""
        subscriber.participant.send(encode_binary(subscriber.channel, create_sync_message(self.doc.ydoc)))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.active:
            subscriber.active = False
            self._subscribers.remove(subscriber)
            if subscriber.awareness:
                # Tell the others at once rather than leave ghosts until their 30 s timeout.
                self._broadcast(awareness_removal_message(subscriber.awareness))
            self.release()

    def release(self) -> None:
        """Drop one hold; the room unloads the document when none is left."""
        self.holds -= 1
        if self.holds == 0:
            self._on_idle(self)

    def close(self) -> None:
        """Detach from the replica so it can be freed (pycrdt pins a Doc while it is observed)."""
        self.closed = True
        self.doc.close()  # also drops the update listener

    # -- sync -------------------------------------------------------------------------------

    def receive(self, subscriber: Subscriber, message: SyncMessage) -> None:
        """Handle a y-sync message that arrived on the subscriber's channel."""
        if message.kind is YSyncMessageType.SYNC_STEP1:
            try:
                missing = self.doc.get_update(message.payload)
            except ValueError:
                raise ProtocolError("the SyncStep1 state vector cannot be decoded") from None
            subscriber.participant.send(encode_binary(subscriber.channel, sync_step2_message(missing)))
            subscriber.live = True
            return
        if message.payload == _EMPTY_UPDATE:
            return
        if subscriber.read_only:
            raise PermissionDeniedError(
                f"this token may only read {self.path!r}; the update was dropped",
                hint="ask for a token with read-write sync scope",
            )
        violations = self.apply(message.payload, origin=subscriber)
        if violations:
            subscriber.participant.send_message(
                Push(
                    PushType.SYNC_REJECTED,
                    {"channel": subscriber.channel, "violations": [v.to_dict() for v in violations]},
                )
            )

    def apply(self, update: bytes, *, origin: Any) -> list[Violation]:
        """Apply an update, mend what breaks the schema, fan out; returns the violations mended.

        An update that cannot be decoded raises ProtocolError, one that would break the layout beyond
        repair UpdateRefusedError (``mesh_tools._update_guard``); either changes nothing.
        """
        # Only what this replica lacks can change it: a SyncStep2 from a replica in sync trims to nothing.
        check_update(update, known=self.doc.get_state())
        try:
            violations = self.doc.apply_update(update, origin=origin)
        except (ValueError, RuntimeError) as exc:
            raise ProtocolError("the update cannot be applied", hint=str(exc)[:200]) from None
        if violations:
            self.mend()
        else:
            self._publish()
        return violations

    def mend(self) -> list[Violation]:
        """Repair every schema violation with one server edit and send everything pending on."""
        violations = self.doc.repair(origin=SERVER_ORIGIN)
        self._publish()
        return violations

    def relay_awareness(self, sender: Subscriber, message: bytes) -> None:
        """Awareness goes to every live subscriber, the sender included (y-websocket expects the echo)."""
        for client, clock in awareness_clocks(message).items():
            if clock is None:
                sender.awareness.pop(client, None)
            else:
                sender.awareness[client] = clock
        self._broadcast(message)

    def _broadcast(self, message: bytes) -> None:
        for subscriber in self._subscribers:
            if subscriber.live:
                subscriber.participant.send(encode_binary(subscriber.channel, message))

    # -- persistence and fan-out ------------------------------------------------------------

    def _on_update(self, update: bytes, origin: Any) -> None:
        # Called inside the transaction's commit: only record; never touch the replica here.
        future = self._storage.append_update(self.room, self.path, update)
        future.add_done_callback(self._written)
        self.last_write = future
        self._outbox.append((update, origin))

    def _publish(self) -> None:
        entries, self._outbox = self._outbox, []
        if not entries:
            return
        messages: dict[Any, bytes] = {}
        for subscriber in self._subscribers:
            if not subscriber.live:
                continue
            # One message per distinct origin to leave out; usually one for everyone.
            key = subscriber if any(origin is subscriber for _, origin in entries) else None
            message = messages.get(key)
            if message is None:
                updates = [update for update, origin in entries if origin is not key]
                if not updates:
                    continue
                # Several updates (a change and its repair) travel as one, so no replica sees the gap.
                merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
                message = messages[key] = create_update_message(merged)
            subscriber.participant.send(encode_binary(subscriber.channel, message))

    def _written(self, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is None:
            return
        cause = future.exception()
        logger.error(
            "storing an update of %s/%s failed (%s): closing its channels", self.room, self.path, cause
        )
        # The storage's error names the cause (storage_unavailable: the disk is full, ...); the
        # replicas keep the changes and send them again when they reopen the document.
        error = (
            cause
            if isinstance(cause, MeshError)
            else ServerError(f"the server could not store changes to {self.path!r}", hint="reopen it later")
        )
        for subscriber in list(self._subscribers):
            subscriber.participant.send_message(
                Push(PushType.SYNC_CLOSED, {"channel": subscriber.channel, "error": error.to_dict()})
            )
            self.unsubscribe(subscriber)
