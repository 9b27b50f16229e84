"""A document loaded in a room: its replica, the channels subscribed to it, persistence and fan-out.

Every change, whoever makes it, is one pycrdt transaction; the document's update listener appends the
transaction's update to the storage log (in order) and to an outbox. ``MeshDocument.apply_update``
reports the schema violations an incoming update brought in; the server mends them with one edit of its
own, then sends the outbox to every live subscriber except the one the change came from — so other
replicas never see a schema-breaking state, and the sender gets the server's repair.

In a cluster, each committed update also goes to the bus, and updates committed by other nodes come
back through :meth:`LiveDocument.apply_remote`: checked and mended like any other, never stored again
(docs/adr/0011-cluster.md).

A big update is checked, applied and mended on a worker thread, and a big document described from a
copy taken there, while the document is locked: its own subscribers wait, other documents are served
(docs/adr/0017-big-frames-off-the-event-loop.md). So the update listener only records (it may run on
that thread); storing and fan-out happen on the event loop, in commit order, in :meth:`_publish`.
A client opening a big document with nothing of it is answered from the stored log, merged in the worker
process (``_stored_reads``), not from the replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import YMessageType, create_update_message, merge_updates

from .._gc_pause import gc_paused
from ..document import (
    CheckedUpdate,
    Claims,
    GuardInput,
    MeshDocument,
    ParticipantRegister,
    UpdateGuard,
    Violation,
    merge_incoming,
)
from ..errors import (
    MeshError,
    PermissionDeniedError,
    ProtocolError,
    RemoteProtocolError,
    ServerError,
    StorageUnavailableError,
    UpdateRefusedError,
)
from ..sync import (
    ClosedPush,
    DescribeResult,
    Push,
    PushType,
    RejectedPush,
    ServerChannel,
    ViolationBody,
    asks_for_everything,
    awareness_clocks,
    encode_result,
    violation_body,
)
from ._bus import DocumentBus
from ._byte_budget import ByteBudget
from ._participant import Participant
from ._presence import Presence
from ._storage import Storage
from ._stored_reads import describe_stored, read_stored_state
from ._worker_process import run_in_worker_process

__all__ = ["BUS_ORIGIN", "SERVER_ORIGIN", "LiveDocument", "Subscriber", "violation_bodies"]

logger = logging.getLogger(__name__)

#: Updates up to this size are checked and applied on the event loop (about a millisecond); bigger ones
#: on a worker thread.
_APPLY_INLINE_BYTES = 64 * 2**10
#: Bytes of updates being read in the worker process at once, others wait (queued, holding no thread).
READS_ELSEWHERE_BYTES = 32 * 2**20
#: Documents up to this many elements are described, and their whole state encoded, on the event loop
#: (a few milliseconds); bigger ones elsewhere.
_INLINE_ELEMENTS = 2_000
#: Awareness clients one channel may announce (a replica has one; reconnects and tabs add a few).
MAX_PRESENCES = 4
_AWARENESS = bytes([YMessageType.AWARENESS])
#: Origin of the server's own edits (schema repairs, ``sync.sync`` data): no subscriber is excluded.
SERVER_ORIGIN = "mesh-tools-server"
#: Origin of updates another node committed: already durable and published, so only fanned out here.
BUS_ORIGIN = "mesh-tools-bus"


@dataclass(eq=False, slots=True)
class Subscriber:
    """One channel of one participant, bound to a document. Hashable by identity (a CRDT origin)."""

    participant: Participant
    #: The channel's sync state (sans-I/O): handshake, read-only rule, announced awareness.
    sync: ServerChannel
    document: LiveDocument
    #: Cleared when the channel is closed, by the participant or by the server.
    active: bool = field(default=True)
    #: While the channel waits for its answer from storage: the updates committed meanwhile, sent after
    #: it (``LiveDocument._answer_from_storage``); None otherwise.
    held: list[bytes] | None = field(default=None)

    @property
    def channel(self) -> int:
        return self.sync.number


@dataclass(slots=True)
class _WholeState:
    """A document's whole state as one update, and the frames answering openers with it by channel."""

    update: bytes
    frames: dict[int, bytes] = field(default_factory=dict)


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
        bus: DocumentBus | None = None,
        reads: ByteBudget | None = None,
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
        self._bus = bus
        self._on_idle = on_idle
        #: Admits big updates to the worker process; shared by the server's documents.
        self._reads = reads or ByteBudget(READS_ELSEWHERE_BYTES)
        self._subscribers: list[Subscriber] = []
        #: Transactions committed and not yet stored and sent: (update, origin).
        self._outbox: list[tuple[bytes, Any]] = []
        #: Held while an update is applied (one at a time) or a worker thread uses the replica;
        #: event-loop code touches the replica only when it is free.
        self._worker = asyncio.Lock()
        #: Counts changes (deletions included, which a state vector does not show); keys ``_described``.
        self._version = 0
        #: (version, the sync.describe result as JSON text, or its computation).
        self._described: tuple[int, asyncio.Future[str]] | None = None
        #: The stored state, read for clients opening a big document with nothing of it, until the next
        #: change: shared by every opener meanwhile.
        self._stored_state: asyncio.Future[_WholeState] | None = None
        #: Who is here and where: the last awareness state of every client, sent to each joiner.
        self.presence = Presence()
        self._presence_sweep: asyncio.TimerHandle | None = None
        #: Checks incoming updates against every item the replica holds; one update at a time.
        self._guard = UpdateGuard(doc)
        #: The guard's record of a loaded document being taken on a worker thread (prime_guard).
        self._priming: asyncio.Future[None] | None = None
        #: The whole state as loaded, for that record, until a subscriber comes or an update arrives.
        self._unprimed: bytes | None = None
        self._register = ParticipantRegister(doc)
        doc.on_update(self._on_update)

    def __repr__(self) -> str:
        return f"<LiveDocument {self.room}/{self.path} subscribers={len(self._subscribers)}>"

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        return tuple(self._subscribers)

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, participant: Participant, channel: int, *, read_only: bool) -> Subscriber:
        """Bind a channel; the caller answers the open request, then calls :meth:`greet`."""
        subscriber = Subscriber(participant, ServerChannel(channel, read_only), self)
        self._subscribers.append(subscriber)
        self.holds += 1
        return subscriber

    async def greet(self, subscriber: Subscriber) -> None:
        """Send the server's SyncStep1: the subscriber answers with what the server lacks."""
        await self._replica_free()
        subscriber.participant.send(subscriber.sync.greeting(self.doc))
        self._answer_presence_query(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.active:
            subscriber.active = False
            self._subscribers.remove(subscriber)
            removal = subscriber.sync.awareness_removal()
            if removal is not None:
                # Tell the others at once rather than leave ghosts until their 30 s timeout.
                self.presence.apply(removal)
                self._broadcast(removal)
                self._publish_awareness(removal)
            self.release()

    def release(self) -> None:
        """Drop one hold; the room unloads the document when none is left."""
        self.holds -= 1
        if self.holds == 0:
            self._on_idle(self)

    def close(self) -> None:
        """Detach from the replica so it can be freed (pycrdt pins a Doc while it is observed)."""
        self.closed = True
        if self._presence_sweep is not None:
            self._presence_sweep.cancel()
        if not self._worker.locked():  # else the worker's caller frees it when the thread is done
            self.doc.discard()  # also drops the update listener, and frees the document now

    # -- sync -------------------------------------------------------------------------------

    async def receive(self, subscriber: Subscriber, message: bytes) -> None:
        """Handle a y-message (sync or awareness) that arrived on the subscriber's channel."""
        if message[:1] == _AWARENESS:
            self._check_presence(subscriber, message)
        await self._replica_free()
        if asks_for_everything(message) and len(self.doc) > _INLINE_ELEMENTS:
            await self._answer_from_storage(subscriber)
            return
        inbound = subscriber.sync.receive(self.doc, message, path=self.path)
        if inbound.reply is not None:
            subscriber.participant.send(inbound.reply)
        elif inbound.awareness is not None:
            # Awareness goes to every subscriber, the sender included (y-websocket expects the echo).
            self._keep_presence(inbound.awareness)
            self._broadcast(inbound.awareness)
            self._publish_awareness(inbound.awareness)
        elif inbound.presence_query:
            self._answer_presence_query(subscriber)
        elif inbound.update is not None and not subscriber.participant.echoed(subscriber, inbound.update):
            await self._apply_from(subscriber, inbound.update)

    async def _answer_from_storage(self, subscriber: Subscriber) -> None:
        """Answer the SyncStep1 of a peer that holds nothing with the stored state, read and merged
        elsewhere: encoding the replica's would hold the GIL, and stall every room, for tens of ms.

        Updates committed until the answer is sent are held for the subscriber and sent right after
        it: the answer may lack them, and a CRDT ignores what it already has. So the peer sees its
        Step2 first, as from any other answer.
        """
        subscriber.held = []
        reading = self._stored_state
        if reading is None:
            reading = self._stored_state = asyncio.ensure_future(self._read_whole_state())
        try:
            state = await asyncio.shield(reading)
        except (MeshError, ValueError) as exc:
            if self._stored_state is reading:
                self._stored_state = None
            logger.warning(
                "reading %s/%s from storage failed (%s): answering from the replica",
                self.room,
                self.path,
                exc,
            )
            await self._replica_free()
            state = _WholeState(self.doc.get_update())
        held, subscriber.held = subscriber.held, None
        if not subscriber.active:
            return
        sync = subscriber.sync
        subscriber.participant.send(sync.answer(state.update, state.frames))
        if held:
            update = held[0] if len(held) == 1 else merge_updates(*held)
            subscriber.participant.send_update(
                subscriber, update, sync.frame(create_update_message(update)), sync.frame
            )

    async def _read_whole_state(self) -> _WholeState:
        return _WholeState(await read_stored_state(self._storage, self.room, self.path))

    async def receive_updates(self, subscriber: Subscriber, messages: list[bytes]) -> None:
        """Sync messages carrying updates, from one channel, applied as one update (their merge).

        Raises like :meth:`receive`, and then nothing is applied: the caller may handle each alone.
        """
        await self._replica_free()
        inbound = [subscriber.sync.receive(self.doc, message, path=self.path) for message in messages]
        # An update sent back exactly as this channel was sent it is held already: not read again.
        echoed = subscriber.participant.echoed
        updates = [
            entry.update
            for entry in inbound
            if entry.update is not None and not echoed(subscriber, entry.update)
        ]
        if updates:
            await self._apply_from(subscriber, updates[0] if len(updates) == 1 else merge_incoming(updates))

    async def _apply_from(self, subscriber: Subscriber, update: bytes) -> None:
        violations = await self.apply(update, origin=subscriber)
        if violations:
            rejected = RejectedPush(channel=subscriber.channel, violations=violation_bodies(violations))
            subscriber.participant.send_message(Push(PushType.SYNC_REJECTED, dict(rejected)))

    def _check_presence(self, sender: Subscriber, message: bytes) -> None:
        """A channel speaks only for its own awareness clients, and for a few of them.

        Otherwise one participant could remove or impersonate another's presence, or announce
        thousands of phantom clients. Read-only participants may still publish their own presence.
        """
        clients = awareness_clocks(message)
        for other in self._subscribers:
            if other is not sender and not other.sync.awareness.keys().isdisjoint(clients):
                taken = sorted(other.sync.awareness.keys() & clients.keys())
                raise PermissionDeniedError(
                    f"awareness client {taken[0]} belongs to another participant",
                    hint="announce only your own document's client id",
                )
        if len(sender.sync.awareness.keys() | clients.keys()) > MAX_PRESENCES:
            raise PermissionDeniedError(
                f"a channel announces at most {MAX_PRESENCES} awareness clients",
                hint="announce only your own document's client id",
            )

    async def apply(self, update: bytes, *, origin: Any, trusted_ids: bool = False) -> list[Violation]:
        """Apply an update, mend what breaks the schema, fan out; returns the violations mended.

        An update that cannot be decoded raises ProtocolError, one that would break the layout beyond
        repair UpdateRefusedError (``mesh_tools.document.UpdateGuard``); either changes nothing. A big
        update (or the first check of a big document not recorded at load, which reads all of it) is
        checked, applied and mended on a worker thread while this document waits, so other documents are
        served meanwhile.
        ``trusted_ids``: see :meth:`UpdateGuard.check`.
        """
        self._start_priming()
        priming = self._priming
        if priming is not None:
            # Every update waits for it in arrival order (a future's callbacks run in that order).
            try:
                await asyncio.shield(priming)
            except Exception:
                if self._priming is priming:  # told once, and a fresh guard records at its first check
                    logger.exception("recording %s/%s for the update guard failed", self.room, self.path)
                    self._guard = UpdateGuard(self.doc)
            self._priming = None
        # Taken without yielding when free (the usual case): a small update is then checked, applied
        # and sent on in this very turn of the event loop, with no task of its own; an edit's latency
        # was mostly turns of the loop.
        await self._worker.acquire()  # one update at a time, and nothing else touches the replica
        if self.closed:  # unloaded while this update waited (and freed): its sender's channel is closed
            self._worker.release()
            return []
        try:
            prepared = self._guard.prepare()
        except BaseException:
            self._unlock()
            raise
        if len(update) + len(prepared.behind or b"") > _APPLY_INLINE_BYTES:
            # Shielded: a cancelled caller must not free the replica while the thread still uses it.
            thread = self._apply_on_worker(update, prepared, origin, trusted_ids)
            return await asyncio.shield(asyncio.ensure_future(thread))
        try:
            return self._check_apply_mend_paused(update, prepared, origin, trusted_ids, False)
        finally:
            self._publish()
            self._unlock()

    async def _apply_on_worker(
        self, update: bytes, prepared: GuardInput, origin: Any, trusted_ids: bool
    ) -> list[Violation]:
        """:meth:`apply` on a worker thread, the replica already locked; unlocked when the thread ends.

        When the guard says so, the update is read in the worker process: reading is pure Python, and a
        thread running Python takes the GIL from the event loop every switch interval.
        """
        elsewhere = self._guard.reads_elsewhere(update, prepared)
        try:
            async with self._reads.reserve(len(update)) if elsewhere else contextlib.nullcontext():
                return await asyncio.to_thread(
                    self._check_apply_mend_paused, update, prepared, origin, trusted_ids, elsewhere
                )
        finally:
            self._publish()
            self._unlock()

    def prime_guard(self, state: bytes) -> None:
        """Have the update guard record ``state``, the replica's whole state as loaded, on a worker
        thread when the first update arrives; updates wait for it. The record costs ~7-10 us an item
        (0.3-0.4 s for 10k elements), so it is taken only for a document somebody writes to.

        Not from the load, nor from the first subscriber: a document loaded to be described or read
        takes no update, and the record taken beside the describe made a cold describe 1.6-1.8x as slow
        (bench/create_describe.py: 10k elements 1.9-2.1x raw pycrdt load + JSON instead of 1.18x), and
        beside every open, the next load in the room 3-4x as slow (bench/room_load.py, server load alone:
        snapshot of 10k 172-232 ms instead of 43-71 ms).
        """
        self._unprimed = state

    def _start_priming(self) -> None:
        state, self._unprimed = self._unprimed, None
        if state is not None:
            self._priming = asyncio.ensure_future(asyncio.to_thread(self._guard.priming(state)))

    def _unlock(self) -> None:
        self._worker.release()
        if self.closed:  # unloaded while the replica was locked: close() left the freeing to this
            self.doc.discard()

    def _check_claims(self, claims: Claims, participant: str) -> None:
        """Refuse an update that registers another name than the token's, or writes as a Yjs client
        registered to another participant: its edits would show under that name in every change feed."""
        for client, name in claims.names.items():
            if name != participant:
                raise UpdateRefusedError(
                    f"the update was refused: it registers client {client} as {name!r}, but its token "
                    f"names {participant!r}",
                    hint="register under the name in your token; nothing was applied",
                )
        for client in claims.writers:
            owner = self._register.name_of(client)
            if owner is not None and owner != participant:
                raise UpdateRefusedError(
                    f"the update was refused: it writes as client {client}, which is {owner!r}'s",
                    hint="write with your replica's own client id; nothing was applied",
                )

    def _check_apply_mend(
        self, update: bytes, prepared: GuardInput, origin: Any, trusted_ids: bool, elsewhere: bool = False
    ) -> list[Violation]:
        # Runs on the event loop or, with the document locked, on a worker thread: records only.
        checked: CheckedUpdate = (
            self._guard.check_elsewhere(update, prepared, run_in_worker_process, trusted_ids=trusted_ids)
            if elsewhere
            else self._guard.check(update, prepared, trusted_ids=trusted_ids)
        )
        if isinstance(origin, Subscriber):
            self._check_claims(checked.claims, origin.participant.token.name)
        # A big update that brings only news is relayed and stored as it came (see apply_update).
        as_is = checked.new_only and len(update) > _APPLY_INLINE_BYTES
        try:
            violations = self.doc.apply_update(
                update,
                origin=origin,
                as_is=as_is,
                effects=checked.effects,
                structs=checked.structs,
                pieces=checked.pieces,
            )
        except (ValueError, RuntimeError) as exc:
            raise RemoteProtocolError("the update cannot be applied", hint=str(exc)[:200]) from None
        self._guard.accept(checked)
        if violations:
            self._repair()
        return violations

    def _check_apply_mend_paused(
        self, update: bytes, prepared: GuardInput, origin: Any, trusted_ids: bool, elsewhere: bool
    ) -> list[Violation]:
        # The decode allocates a container per item, nearly all dead by the end: a collection during
        # the check would walk them, and at times the room's whole heap, holding the GIL every other
        # document's loop needs (a burst of 600 edits, ~1,000 items, met gen1 and gen2 passes of 2-30 ms).
        with gc_paused():
            return self._check_apply_mend(update, prepared, origin, trusted_ids, elsewhere)

    def _repair(self) -> list[Violation]:
        return self.doc.repair(origin=SERVER_ORIGIN)

    def mend(self) -> list[Violation]:
        """Repair every schema violation with one server edit and send everything pending on."""
        violations = self._repair()
        self._publish()
        return violations

    async def mend_on_worker(self) -> None:
        """:meth:`mend` with the whole-document check on a worker thread (a freshly loaded document)."""
        async with self._worker:
            try:
                await asyncio.to_thread(self._repair)
            finally:
                self._publish()

    async def apply_remote(self, update: bytes) -> bool:
        """Apply an update another node committed (through the bus): checked and mended, not stored.

        Checked again, because the bus is not this node's to trust: an entry written into Redis by
        anyone who can reach it, or by a node of an older version, must not reach this replica. A new
        element may take an id this replica's elements hold (two nodes accepted both concurrently;
        the repair renames one, the same everywhere). Returns False if the update was refused: the
        caller reloads the document from storage, which holds every update committed by a node.
        """
        try:
            await self.apply(update, origin=BUS_ORIGIN, trusted_ids=True)
        except MeshError as exc:
            logger.error(
                "refused an update of %s/%s from the bus (%s: %s); not applied",
                self.room,
                self.path,
                exc.code,
                exc,
            )
            return False
        return True

    async def _replica_free(self) -> None:
        """Return once no worker thread uses the replica; the caller must use it before yielding."""
        if self._worker.locked():
            async with self._worker:
                pass

    def receive_remote_awareness(self, message: bytes) -> None:
        """Relay awareness from participants on other nodes to this node's subscribers."""
        try:
            self._keep_presence(message)
        except ProtocolError as exc:
            logger.error("awareness of %s/%s from another node is malformed: %s", self.room, self.path, exc)
            return
        self._broadcast(message)

    # -- presence ---------------------------------------------------------------------------

    def _keep_presence(self, message: bytes) -> None:
        self.presence.apply(message)
        if self._presence_sweep is None and len(self.presence):
            self._schedule_presence_sweep()

    def _answer_presence_query(self, subscriber: Subscriber) -> None:
        """Send the subscriber every current awareness state (on joining, and for QueryAwareness)."""
        snapshot = self.presence.snapshot()
        if snapshot is not None:
            subscriber.participant.send(subscriber.sync.frame(snapshot))

    def _schedule_presence_sweep(self) -> None:
        delay = self.presence.timeout / 2
        self._presence_sweep = asyncio.get_running_loop().call_later(delay, self._sweep_presence)

    def _sweep_presence(self) -> None:
        # Peers that stopped renewing (a frozen tab, a half-open link) leave before they mislead a joiner.
        self._presence_sweep = None
        removal = self.presence.expire()
        if removal is not None:
            self._broadcast(removal)
        if len(self.presence) and not self.closed:
            self._schedule_presence_sweep()

    def _publish_awareness(self, message: bytes) -> None:
        if self._bus is not None:
            self._bus.publish_awareness(self.room, self.path, message)

    def _broadcast(self, message: bytes) -> None:
        # Awareness needs no document state, so subscribers get it before their handshake is done.
        for subscriber in self._subscribers:
            subscriber.participant.send(subscriber.sync.frame(message))

    # -- persistence and fan-out ------------------------------------------------------------

    def _on_update(self, update: bytes, origin: Any) -> None:
        # Called inside the transaction's commit, maybe on a worker thread: only record.
        self._outbox.append((update, origin))
        self._version += 1
        self._stored_state = None

    def _store(self, update: bytes) -> None:
        future = self._storage.append_update(self.room, self.path, update)
        future.add_done_callback(self._written)
        if self._bus is not None:
            # Futures resolve in append order, so other nodes get this node's updates in commit order.
            future.add_done_callback(functools.partial(self._committed, update))
        self.last_write = future

    async def describe(self) -> str:
        """The ``sync.describe`` result (the document JSON with ids) as JSON text.

        A big document is described from its stored log in the worker process (``_stored_reads``);
        describes of an unchanged document share one answer, the ones waiting for it included.
        """
        await self._replica_free()
        version = self._version
        if self._described is None or self._described[0] != version:
            describing: asyncio.Future[str]
            if len(self.doc) <= _INLINE_ELEMENTS:
                describing = asyncio.get_running_loop().create_future()
                describing.set_result(self._describe_replica())
            else:
                describing = asyncio.ensure_future(self._describe_big())
            self._described = (version, describing)
        # Shielded: the describes waiting for the same answer go on if this one is cancelled.
        return await asyncio.shield(self._described[1])

    def described_as(self, description: Awaitable[str]) -> None:
        """Take ``description``, computed from the stored rows this replica was loaded from, as the
        describe of its version now (with the same fallback to the replica as any big describe)."""
        self._described = (self._version, asyncio.ensure_future(self._describe_big(description)))

    async def _describe_big(self, description: Awaitable[str] | None = None) -> str:
        try:
            if description is None:
                description = describe_stored(self._storage, self.room, self.path, self.doc.limits)
            return await description
        except (MeshError, ValueError) as exc:
            logger.warning(
                "describing %s/%s from storage failed (%s): describing the replica", self.room, self.path, exc
            )
        # Slower for the others (the GIL is shared with the thread), but the reader gets its answer.
        async with self._worker:
            with gc_paused():
                return await asyncio.to_thread(self._describe_replica)

    def _describe_replica(self) -> str:
        return encode_result(DescribeResult(path=self.path, json=self.doc.to_json(include_ids=True)))

    def _publish(self) -> None:
        entries, self._outbox = self._outbox, []
        if not entries:
            return
        try:
            self._relay(entries)
        finally:
            # Stored once the readers' frames are queued: a relay never waits for the disk (``flush``
            # does), and the storage's thread, woken by the append, need not compete for the GIL
            # before the readers' senders have even been scheduled. Stored as one row: an update and
            # the repair of what it broke are durable together or not at all, so a load can trust that
            # the log holds only checked, mended states (ADR 0019). What came through the bus, another
            # node stored already.
            to_store = [update for update, origin in entries if origin is not BUS_ORIGIN]
            if to_store:
                self._store(to_store[0] if len(to_store) == 1 else merge_updates(*to_store))

    def _relay(self, entries: list[tuple[bytes, Any]]) -> None:
        """Queue the committed updates for every live subscriber but the one each came from."""
        merged_by_key: dict[Any, tuple[bytes, bytes]] = {}
        # Frames by (key, channel number): clients number their channels alike, so most share one.
        frames: dict[tuple[Any, int], bytes] = {}
        for subscriber in self._subscribers:
            if subscriber.held is not None:
                subscriber.held.extend(update for update, origin in entries if origin is not subscriber)
                continue
            if not subscriber.sync.live:
                continue
            # One message per distinct origin to leave out; usually one for everyone.
            key = subscriber if any(origin is subscriber for _, origin in entries) else None
            known = merged_by_key.get(key)
            if known is None:
                updates = [update for update, origin in entries if origin is not key]
                if not updates:
                    continue
                # Several updates (a change and its repair) travel as one, so no replica sees the gap.
                merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
                known = merged_by_key[key] = (merged, create_update_message(merged))
            update, message = known
            sync = subscriber.sync
            frame = frames.get((key, sync.number))
            if frame is None:
                frame = frames[key, sync.number] = sync.frame(message)
            # A reader still behind gets this merged into what it has waiting (see Participant).
            subscriber.participant.send_update(subscriber, update, frame, sync.frame)

    def _committed(self, update: bytes, future: asyncio.Future[None]) -> None:
        if self._bus is not None and not future.cancelled() and future.exception() is None:
            self._bus.publish_update(self.room, self.path, update)

    def _written(self, future: asyncio.Future[None]) -> None:
        if future.cancelled() or (failure := future.exception()) is None:
            return
        logger.error(
            "storing an update of %s/%s failed (%s): closing its channels", self.room, self.path, failure
        )
        # The replica holds a change the log lacks: closing every channel unloads the document, so the
        # reopening clients' sync sends that change again. storage_unavailable names the cause in words.
        error: ServerError = (
            failure
            if isinstance(failure, StorageUnavailableError)
            else ServerError(
                f"the server could not store changes to {self.path!r}", hint="reopen the document later"
            )
        )
        for subscriber in list(self._subscribers):
            closed = ClosedPush(channel=subscriber.channel, error=error.to_dict())
            subscriber.participant.send_message(Push(PushType.SYNC_CLOSED, dict(closed)))
            self.unsubscribe(subscriber)


def violation_bodies(violations: list[Violation]) -> list[ViolationBody]:
    """Mended violations as the wire carries them (``sync.rejected``, the ``sync.sync`` result)."""
    return [violation_body(v.code, v.message, v.element_id) for v in violations]
