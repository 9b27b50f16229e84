"""Versions and change feeds: what others changed in a document since a version the agent holds.

Every read and edit returns a ``version``, written ``<replica>.<n>.<state vector>``: the replica's Yjs
client id, ``n`` the number of remote changes logged on that replica, and the replica's state vector
(base64url). ``changes_since(version)`` answers with a compact diff of others' edits after it (who,
what, where), so an agent keeps its picture of the document current without reading it again, and an
edit carrying ``if_unchanged_since`` is refused with the newer values when another participant changed
the element after that version.

State vectors do not record deletions (a deletion advances no clock), so each replica keeps one log of
remote events (:class:`ChangeLog`, shared by every toolkit on it) and ``n`` locates a version in it.
A version from another replica (another agent's, or one from before this replica was opened again) is
located by its state vector instead: a logged change is new to it when the update that brought the
change wrote clocks the version has not seen; a deletion alone when the version had seen nothing this
replica had not when the deletion arrived (one server relays in one order, so a replica holding
anything that arrived here after the deletion also holds the deletion). Who made a change is known by
Yjs client id (the clients whose clocks the update advanced), named through the document's participant
register (:mod:`._authors`); a deletion alone advances no clock, so its author is not known.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

from ..document import (
    AttributeChanged,
    DocumentEvent,
    ElementDeleted,
    ElementInserted,
    MeshDocument,
    ParticipantRegister,
    TextChanged,
    decode_state_vector,
)
from ..errors import EditConflictError, InvalidValueError
from ._addresses import element_path
from ._describe import describe, subtree

__all__ = ["Change", "ChangeFeed", "ChangeLog", "FeedPage", "StateVector"]

#: A state vector decoded: each client's next clock.
StateVector = dict[int, int]

#: How long a replica may take to receive what a version passed from another agent had seen, in seconds.
CATCH_UP_S = 2.0
#: How long ``wait`` keeps waiting for more once a change arrived, in seconds.
SETTLE_S = 0.3
# Characters one inserted subtree may use in a feed page, at most.
_INSERT_BUDGET = 2_000
#: How often a replica behind a version is checked again while it catches up, in seconds.
_CATCH_UP_POLL_S = 0.02
_VERSION_HINT = "use the version of your latest read or edit, or call describe_document to read again"


class Change(TypedDict, total=False):
    """One change another participant made, as the model reads it."""

    op: Literal["insert", "set", "remove", "delete", "text"]
    by: str
    """The participant's name (or ``client <n>``); absent when unknown (a deletion alone)."""
    id: str
    tag: str
    path: str
    """Where the element is now (see :mod:`._addresses`)."""
    parent: str
    element: dict[str, Any]
    """An inserted subtree as ``describe_document`` shows it (cut to a budget, ``$next`` to go on)."""
    name: str
    value: Any
    text: str
    """An element's text as it is now, after others typed into it (op ``text``)."""
    ids: list[str]
    """Deleted elements (every element of a deleted subtree)."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What ``changes_since`` answers: the changes, the version they bring the agent to, and the rest."""

    changes: list[Change]
    version: str
    omitted: int = 0
    """Changes left out to stay within the budget."""


@dataclass(frozen=True, slots=True)
class _Entry:
    event: DocumentEvent
    by: str | None
    state: StateVector
    """The replica's state vector once the update that brought this change was applied."""
    writers: tuple[int, ...]
    """The clients whose clocks that update advanced; empty for a deletion alone."""
    inserted: tuple[str, ...] = ()
    """For an insert: every id of the subtree as it arrived, so deleting it again folds away."""

    def new_to(self, state: StateVector, replica: int) -> bool:
        """Whether a replica (its Yjs client id) at ``state`` had not seen this change yet."""
        if self.writers:
            return any(state.get(client, 0) < self.state[client] for client in self.writers)
        # A deletion alone: seen if the replica had anything that arrived here after it, since one
        # server relays in one order. Its own edits do not count: it may have made them before.
        return not any(
            clock > self.state.get(client, 0) for client, clock in state.items() if client != replica
        )


class ChangeLog:
    """One replica's log of remote changes, shared by every toolkit on it, so that their versions agree.

    Kept for the replica's lifetime (:meth:`of`), at most ``remember`` changes.
    """

    _logs: ClassVar[weakref.WeakKeyDictionary[MeshDocument, ChangeLog]] = weakref.WeakKeyDictionary()

    def __init__(self, document: MeshDocument, *, remember: int = 10_000) -> None:
        # Weak: the registry's value must not keep its key alive.
        self._document = weakref.ref(document)
        self.replica = document.ydoc.client_id
        self._register = ParticipantRegister(document)
        self.entries: deque[_Entry] = deque(maxlen=remember)
        self.logged = 0  # entries ever logged; the log holds the last len(self.entries) of them
        self.edits = 0
        """Every change to the replica counted, its own included: what a cached read is valid for."""
        self.state = decode_state_vector(document.get_state())
        """The replica's state after the latest remote change (its own edits since are not in it)."""
        self.base = dict(self.state)
        """The state the oldest entry kept was logged after: older versions cannot be answered here."""
        self._issued: tuple[str, int] | None = None
        """The latest version issued, and the log position in it: an agent hands it back next call."""
        self._prefix = f"{self.replica}.0."
        """The version's text before its state vector: it changes only with a logged change."""
        self._writers: tuple[int, ...] = ()
        self._by: str | None = None
        self._arrived: asyncio.Event | None = None
        document.observe(self._on_event)

    @classmethod
    def of(cls, document: MeshDocument) -> ChangeLog:
        """The log of this replica, started on first use."""
        log = cls._logs.get(document)
        if log is None:
            log = cls._logs[document] = cls(document)
        return log

    def version(self) -> str:
        document = self._document()
        assert document is not None, "a live feed holds its document"
        # base64.urlsafe_b64encode without its two Python layers, after the prefix made once per logged
        # change: every tool result carries a version.
        state = binascii.b2a_base64(document.get_state(), newline=False).translate(_URLSAFE)
        version = self._prefix + state.rstrip(b"=").decode("ascii")
        self._issued = (version, self.logged)
        return version

    def quiet_since(self, version: str) -> bool:
        """Whether ``version`` is the latest one issued and no remote change was logged since: what
        an agent holds after its own edits while nobody else writes, answered without a lookup."""
        return self._issued is not None and self._issued == (version, self.logged)

    def since(self, version: str) -> list[_Entry]:
        """The logged changes a holder of ``version`` has not seen; InvalidValueError for a token that
        is not a version of this document or is older than the log."""
        if self._issued is not None and version == self._issued[0]:
            # The version this replica issued last (an agent's usual argument): a state it held, so
            # never ahead of it; no state vector to decode.
            return self._entries_from(version, self._issued[1])
        replica, position, state = _parse(version)
        if self.ahead(state):
            raise InvalidValueError(
                f"version {version!r} has changes this replica has not received",
                hint="versions come from a read or edit of this document; call describe_document to read "
                "it again",
            )
        if replica == self.replica:
            if position > self.logged:
                raise InvalidValueError(f"version {version!r} is not from this document", hint=_VERSION_HINT)
            return self._entries_from(version, position)
        # Another replica's version: located by what it had seen.
        if any(state.get(client, 0) < clock for client, clock in self.base.items() if client != self.replica):
            raise InvalidValueError(
                f"version {version!r} is older than this replica's change log",
                hint="call describe_document to read the document again",
            )
        return [entry for entry in self.entries if entry.new_to(state, replica)]

    def _entries_from(self, version: str, position: int) -> list[_Entry]:
        """The entries logged after log position ``position`` of one of this replica's versions."""
        oldest = self.logged - len(self.entries)
        if position < oldest:
            raise InvalidValueError(
                f"version {version!r} is too old: {self.logged - position} changes happened since",
                hint="call describe_document to read the document again",
            )
        if position == self.logged:
            return []
        return list(self.entries)[position - oldest :]

    def ahead(self, state: StateVector) -> bool:
        """Whether a version's state holds changes this replica has not received."""
        document = self._document()
        assert document is not None, "a live feed holds its document"
        known = decode_state_vector(document.get_state())
        return any(clock > known.get(client, 0) for client, clock in state.items())

    async def catch_up(self, version: str, timeout: float) -> None:
        """Wait up to ``timeout`` seconds until this replica holds everything ``version`` had seen.

        Another agent's version is often ahead by its own latest edits, still on their way here.
        """
        _, _, state = _parse(version)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.ahead(state) and loop.time() < deadline:
            # Not the log's arrival event: an update may bring no element event (a register entry).
            await asyncio.sleep(_CATCH_UP_POLL_S)

    async def arrival(self, position: int, deadline: float) -> bool:
        """Whether the log grows past ``position`` before the loop's clock reaches ``deadline``."""
        loop = asyncio.get_running_loop()
        while self.logged == position:
            self._arrived = self._arrived or asyncio.Event()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return False
        return True

    def _on_event(self, event: DocumentEvent) -> None:
        self.edits += 1
        if event.local:
            # This replica's own edits: not news to anyone on it. They advance only its own clock,
            # which no remote change is credited with (below), so the state need not be read now.
            return
        document = self._document()
        assert document is not None, "a collected document sends no events"
        state = decode_state_vector(document.get_state())
        # Yjs client ids are unique (the room server refuses an update written as another client),
        # so only this replica's own edits advance its clock, never a remote update.
        advanced = tuple(
            client
            for client, clock in state.items()
            if client != self.replica and clock > self.state.get(client, 0)
        )
        self.state = state
        if advanced:
            self._writers, self._by = advanced, self._register.names(advanced)
        elif isinstance(event, ElementDeleted):
            # A deletion alone advances no clock: its author is unknown.
            self._writers, self._by = (), None
        born = (
            tuple(element.id for element in subtree(event.element))
            if isinstance(event, ElementInserted) and event.element.is_alive
            else ()
        )
        if len(self.entries) == self.entries.maxlen:
            self.base = self.entries[0].state
        self.entries.append(_Entry(event, self._by, self.state, self._writers, born))
        self.logged += 1
        self._prefix = f"{self.replica}.{self.logged}."
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None


class ChangeFeed:
    """One toolkit's view of a document's changes: versions, diffs, waits and conflict checks."""

    def __init__(self, document: MeshDocument) -> None:
        self._document = document
        self._log = ChangeLog.of(document)
        self._seen = self.version()

    # -- versions ------------------------------------------------------------------------------

    def read(self) -> str:
        """The current version, for a read's result: the agent has now seen everything up to it."""
        return self.mark_seen(self.version())

    def mark_seen(self, version: str) -> str:
        """Record that the agent has seen everything up to ``version`` (a page it was given); returns it."""
        self._seen = version
        return version

    def read_if_quiet(self) -> str | None:
        """``read()`` when others changed nothing since the agent's latest look (an edit's usual case:
        its next version, without a diff to compute), else None."""
        if not self._log.quiet_since(self._seen):
            return None
        self._seen = version = self._log.version()
        return version

    @property
    def seen(self) -> str:
        """The version of the agent's latest read, for an edit's result.

        Not the current version: others' changes that arrived after the read and before the edit
        would fall behind it, and ``changes_since`` would never show them.
        """
        return self._seen

    def version(self) -> str:
        """The current version token."""
        return self._log.version()

    @property
    def edits(self) -> int:
        """Changes to the replica so far, anyone's: a read cached with this count is valid while it holds."""
        return self._log.edits

    async def catch_up(self, version: str, timeout: float = CATCH_UP_S) -> None:
        """Give this replica up to ``timeout`` seconds to receive what ``version`` (maybe another
        agent's) had seen, before it is answered."""
        await self._log.catch_up(version, timeout)

    # -- answers -------------------------------------------------------------------------------

    def changes_since(self, version: str, *, budget: int) -> FeedPage:
        """Others' edits after ``version``, folded: an element inserted then changed shows once, as
        it is now; one inserted and deleted again not at all; several sets of one attribute, the last.

        The page's version is the current one; the caller marks it seen once the agent has the page.
        """
        entries = self._log.since(version)
        current = self.version()
        if not entries:
            return FeedPage([], current)  # the usual answer to an edit: nobody else wrote meanwhile
        inserted: dict[str, _Entry] = {}
        fresh: set[str] = set()
        sets: dict[tuple[str, str], _Entry] = {}
        texts: dict[str, _Entry] = {}
        deleted: dict[str | None, list[str]] = {}
        for entry in entries:
            event = entry.event
            if isinstance(event, ElementInserted):
                fresh.update(entry.inserted)
                if event.element.is_alive:
                    inserted[event.element.id] = entry
                    fresh.update(element.id for element in subtree(event.element))
            elif isinstance(event, AttributeChanged):
                sets[(event.element.id, event.name)] = entry
            elif isinstance(event, TextChanged):
                texts[event.element.id] = entry
            elif event.element_id not in fresh:
                deleted.setdefault(entry.by, []).append(event.element_id)
        changes: list[Change] = []
        positions: dict[str, dict[str, int]] = {}
        for element_id, entry in inserted.items():
            assert isinstance(entry.event, ElementInserted)
            element = entry.event.element
            if not element.is_alive or (element.parent is not None and element.parent.id in fresh):
                continue  # deleted again, or inside another inserted subtree that shows it
            change = _change("insert", entry.by, element_id, element.tag_name)
            change["path"] = element_path(element, positions)
            change["parent"] = element.parent.id if element.parent is not None else ""
            change["element"] = describe(element, depth=None, budget=min(budget, _INSERT_BUDGET)).content
            changes.append(change)
        for (element_id, name), entry in sets.items():
            assert isinstance(entry.event, AttributeChanged)
            element = entry.event.element
            if element_id in fresh or not element.is_alive:
                continue
            value = element.get_attribute(name)
            change = _change("remove" if value is None else "set", entry.by, element_id, element.tag_name)
            change["path"] = element_path(element, positions)
            change["name"] = name
            if value is not None:
                change["value"] = value
            changes.append(change)
        for element_id, entry in texts.items():
            assert isinstance(entry.event, TextChanged)
            element = entry.event.element
            if element_id in fresh or not element.is_alive:
                continue
            change = _change("text", entry.by, element_id, element.tag_name)
            change["path"] = element_path(element, positions)
            change["text"] = element.text
            changes.append(change)
        for by, ids in deleted.items():
            change = Change(op="delete", ids=ids)
            if by is not None:
                change["by"] = by
            changes.append(change)
        return _fit(changes, current, budget)

    async def wait(self, version: str, timeout: float, *, settle: float = SETTLE_S) -> bool:
        """Wait until another participant changes the document after ``version`` or ``timeout``
        seconds pass; True if there are changes.

        Once a change arrives, waits on while more follow within ``settle`` seconds (never past the
        timeout): a participant's turn is several edits, and one answer for all of them saves the
        agent a turn per edit.
        """
        log = self._log
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not log.since(version) and not await log.arrival(log.logged, deadline):
            return False
        settled = False
        while not settled:
            settled = not await log.arrival(log.logged, min(deadline, loop.time() + settle))
        return True

    def check_unchanged(self, element_id: str, version: str) -> None:
        """Raise EditConflictError naming the newer values if others changed the element's attributes
        after ``version``."""
        newer: dict[str, tuple[Any, str | None]] = {}
        for entry in self._log.since(version):
            event = entry.event
            if isinstance(event, AttributeChanged) and event.element.id == element_id:
                newer[event.name] = (event.new_value, entry.by)
        if not newer:
            return
        described = "; ".join(
            f"{name} is now {json.dumps(value, ensure_ascii=False)}" + (f" (set by {by})" if by else "")
            for name, (value, by) in newer.items()
        )
        raise EditConflictError(
            f"element {element_id!r} changed since version {version}: {described}",
            hint="decide with the newer values; repeat the edit with the version of this answer's "
            "changes_since call, or without if_unchanged_since to overwrite",
        )


#: The standard base64 alphabet's two last characters as the URL-safe one writes them.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _parse(version: str) -> tuple[int, int, StateVector]:
    """A version's replica, log position and state vector; InvalidValueError if it is none."""
    replica_text, _, rest = version.partition(".")
    count, _, state_text = rest.partition(".")
    try:
        state = decode_state_vector(base64.urlsafe_b64decode(state_text + "=" * (-len(state_text) % 4)))
        return int(replica_text), int(count), state
    except (ValueError, IndexError, binascii.Error):
        raise InvalidValueError(f"{version!r} is not a version", hint=_VERSION_HINT) from None


def _change(
    op: Literal["insert", "set", "remove", "delete", "text"], by: str | None, element_id: str, tag: str
) -> Change:
    change = Change(op=op, id=element_id, tag=tag)
    if by is not None:
        change["by"] = by
    return change


def _fit(changes: list[Change], version: str, budget: int) -> FeedPage:
    used = 0
    for kept, change in enumerate(changes):
        used += len(json.dumps(change, separators=(",", ":"), ensure_ascii=False)) + 1
        if used > budget:
            return FeedPage(changes[:kept], version, len(changes) - kept)
    return FeedPage(changes, version)
