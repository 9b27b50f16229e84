"""Versions and change feeds: what others changed in a document since a version the agent holds.

Every read and edit returns a ``version``, written ``<n>.<state vector>``: ``n`` counts the remote
changes this toolkit has logged for the document, the state vector (base64url of the replica's Yjs
state vector) is what the replica had seen. ``changes_since(version)`` answers with a compact diff of
others' edits after it (who, what, where), so an agent keeps its picture of the document current
without reading it again, and an edit carrying ``if_unchanged_since`` is refused with the newer values
when another participant changed the element after that version.

State vectors do not record deletions (a deletion advances no clock), so the feed keeps its own log of
remote events and ``n`` locates a version in it; the state vector checks that a version came from this
document's history. Who made a change is known by Yjs client id (the clients whose clocks the update
advanced), named through the document's participant register (:mod:`._authors`); a deletion alone
advances no clock, so its author is not known.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from ..document import (
    AttributeChanged,
    DocumentEvent,
    ElementDeleted,
    ElementInserted,
    MeshDocument,
    TextChanged,
)
from ..errors import EditConflictError, InvalidValueError
from ..sync import read_var_uint
from ._addresses import element_path
from ._authors import Authors
from ._describe import describe, subtree

__all__ = ["Change", "ChangeFeed", "FeedPage", "StateVector"]

#: A state vector decoded: each client's next clock.
StateVector = dict[int, int]

#: How long ``wait`` keeps waiting for more once a change arrived, in seconds.
SETTLE_S = 0.3
# Characters one inserted subtree may use in a feed page, at most.
_INSERT_BUDGET = 2_000
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
    inserted: tuple[str, ...] = ()
    """For an insert: every id of the subtree as it arrived, so deleting it again folds away."""


class ChangeFeed:
    """Logs one document's remote changes and answers versions, diffs, waits and conflict checks."""

    def __init__(self, document: MeshDocument, authors: Authors, *, remember: int = 10_000) -> None:
        self._document = document
        self._authors = authors
        self._log: deque[_Entry] = deque(maxlen=remember)
        self._logged = 0  # entries ever logged; the log holds the last len(self._log) of them
        self._state = decode_state(document.get_state())
        self._by: str | None = None
        self._arrived: asyncio.Event | None = None
        #: The latest version handed out and its log position: an agent almost always passes back the
        #: version of its previous result, which then needs no decoding or checking.
        self._issued = ("", 0)
        self._seen = self.version()
        self._unsubscribe: Callable[[], None] = document.observe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    # -- versions ------------------------------------------------------------------------------

    def read(self) -> str:
        """The current version, for a read's result: the agent has now seen everything up to it."""
        return self.mark_seen(self.version())

    def mark_seen(self, version: str) -> str:
        """Record that the agent has seen everything up to ``version`` (a page it was given); returns it."""
        self._seen = version
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
        state = base64.urlsafe_b64encode(self._document.get_state()).decode("ascii").rstrip("=")
        version = f"{self._logged}.{state}"
        self._issued = (version, self._logged)
        return version

    def _position(self, version: str) -> int:
        """Where in the log a version points; raises InvalidValueError for a token not from here."""
        if version == self._issued[0]:
            return self._within_log(version, self._issued[1])
        count, _, state_text = version.partition(".")
        try:
            position = int(count)
            state = decode_state(base64.urlsafe_b64decode(state_text + "=" * (-len(state_text) % 4)))
        except (ValueError, binascii.Error):
            raise InvalidValueError(f"{version!r} is not a version", hint=_VERSION_HINT) from None
        current = decode_state(self._document.get_state())
        if position > self._logged or any(clock > current.get(client, 0) for client, clock in state.items()):
            raise InvalidValueError(f"version {version!r} is not from this document", hint=_VERSION_HINT)
        return self._within_log(version, position)

    def _within_log(self, version: str, position: int) -> int:
        """``position``, unless the log no longer reaches back to it."""
        if position < self._logged - len(self._log):
            raise InvalidValueError(
                f"version {version!r} is too old: {self._logged - position} changes happened since",
                hint="call describe_document to read the document again",
            )
        return position

    def _since(self, version: str) -> list[_Entry]:
        position = self._position(version)
        if position == self._logged:
            return []
        skip = position - (self._logged - len(self._log))
        return list(self._log)[skip:]

    # -- answers -------------------------------------------------------------------------------

    def changes_since(self, version: str, *, budget: int) -> FeedPage:
        """Others' edits after ``version``, folded: an element inserted then changed shows once, as
        it is now; one inserted and deleted again not at all; several sets of one attribute, the last.

        The page's version is the current one; the caller marks it seen once the agent has the page.
        """
        entries = self._since(version)
        current = self.version()
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
        position = self._position(version)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not await self._arrival(position, deadline):
            return False
        settled = False
        while not settled:
            settled = not await self._arrival(self._logged, min(deadline, loop.time() + settle))
        return True

    async def _arrival(self, position: int, deadline: float) -> bool:
        """Whether the log grows past ``position`` before the loop's clock reaches ``deadline``."""
        loop = asyncio.get_running_loop()
        while self._logged == position:
            self._arrived = self._arrived or asyncio.Event()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return False
        return True

    def check_unchanged(self, element_id: str, version: str) -> None:
        """Raise EditConflictError naming the newer values if others changed the element's attributes
        after ``version``."""
        newer: dict[str, tuple[Any, str | None]] = {}
        for entry in self._since(version):
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

    # -- logging -------------------------------------------------------------------------------

    def _on_event(self, event: DocumentEvent) -> None:
        if event.local:
            return
        state = decode_state(self._document.get_state())
        advanced = [client for client, clock in state.items() if clock > self._state.get(client, 0)]
        if advanced:
            self._state = state
            self._by = self._authors.names(advanced)
        elif isinstance(event, ElementDeleted):
            self._by = None  # a deletion alone advances no clock: its author is unknown
        born = (
            tuple(element.id for element in subtree(event.element))
            if isinstance(event, ElementInserted) and event.element.is_alive
            else ()
        )
        self._log.append(_Entry(event, self._by, born))
        self._logged += 1
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None


def decode_state(state: bytes) -> StateVector:
    """A Yjs state vector (``varuint count, (client, clock)*``) as a dict."""
    count, offset = read_var_uint(state, 0, "state vector size")
    clocks: StateVector = {}
    for _ in range(count):
        client, offset = read_var_uint(state, offset, "client id")
        clocks[client], offset = read_var_uint(state, offset, "clock")
    return clocks


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
