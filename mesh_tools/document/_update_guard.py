"""Refuse, before it is applied, an update that no repair could undo or that leaves the layout.

A CRDT cannot take back a deletion, and a second root or a foreign top-level type cannot be removed
once integrated without guessing which root is the real one; content placed where no API reads it
(characters directly in an element) cannot even be found afterwards. So the room server reads every
incoming update (``_yjs_update``), places each of its items (``_placements``: from the update itself,
or from the record of every item the replica holds), and refuses it whole when it:

- deletes or rewrites an item of client 0, which writes only the shared root (_layout.root_update);
- inserts anything beside the root, or into a top-level type other than the ``mesh`` fragment and the
  ``participants`` register (where a client may write only its own name, a string, and delete an
  entry only to replace it);
- creates a shared type other than an XML element or an element's text node (maps, arrays, hooks,
  sub-documents), or JSON or binary content, which no schema allows;
- creates a text node in an element whose type declares no text, puts characters, embeds or formats
  anywhere but in a text node, a plain value among an element's children or in a text, an element in
  an attribute or in a text, or anything inside a value; wherever the parent lives (the update or
  the replica);
- writes a malformed ``$id``, or gives a new element the id an element of the replica holds, unless
  it deletes that element in the same update (a move);
- builds on items the replica does not hold (Yjs would keep it pending, unchecked, until they came).

What the update alone cannot tell (schema checks; a ``$id`` rewritten; depth and size) is checked after
it is applied and mended by one server edit. Given the replica's state vector, the check reads only the
structs the replica lacks (Yjs skips the others; not ``pycrdt.get_update``, which would re-encode the
whole update in Rust holding the GIL, docs/adr/0017-big-frames-off-the-event-loop.md). See
docs/adr/0012-refusing-hostile-updates.md.
"""

from __future__ import annotations

import functools
import pickle
from bisect import bisect_right
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NoReturn

from pycrdt import merge_updates

from .._gc_pause import gc_paused
from ..errors import MeshError, RemoteProtocolError, UpdateRefusedError
from ..schema import ID_ATTRIBUTE, MeshSchema, rules
from ._layout import ELEMENT_ID_PATTERN, FRAGMENT_NAME, PARTICIPANTS_MAP
from ._participants import Claims, claims_in
from ._placements import FORGOTTEN, Placement, Placements, covers
from ._update_effects import UpdateEffects, update_effects
from ._update_split import Cut, cut, plan_cuts
from ._yjs_update import (
    Content,
    DecodedItem,
    DecodedUpdate,
    ItemId,
    TypeRef,
    UpdateFormatError,
    decode_state_vector,
    decode_update,
)

if TYPE_CHECKING:
    from ._replica import MeshDocument

__all__ = [
    "ROOT_CLIENT",
    "CheckedUpdate",
    "GuardInput",
    "RunElsewhere",
    "UpdateGuard",
    "check_update",
    "merge_incoming",
    "read_elsewhere",
]

#: The client id that writes the shared root, and how many clocks the root recipe uses (element, $id).
ROOT_CLIENT = 0
_ROOT_CLOCKS = 2
_ROOT_ITEM = (ROOT_CLIENT, 0)
#: What the record of a replica takes as bytes (``Placements.to_bytes``), per element of four items.
_RECORD_BYTES_PER_ELEMENT = 192
#: Replicas up to this many elements may have updates read in another process (see reads_elsewhere).
_ELSEWHERE_ELEMENTS = 10_000
#: Structs per piece of an update read elsewhere, applied piece by piece: pycrdt applied 600 of an 8 MiB
#: update's (4,000-character values) in 0.7 ms, the whole 6,000 in one call of 8-10 ms holding the GIL.
_APPLIED_PIECE_STRUCTS = 500

#: What only a text node holds.
_TEXT_CONTENT: dict[int, str] = {
    Content.STRING: "text",
    Content.EMBED: "an embed",
    Content.FORMAT: "a text format",
}
_CONTENT_NAMES: dict[int, str] = {
    Content.JSON: "JSON content",
    Content.BINARY: "binary content",
    Content.DOC: "a sub-document",
}
_TYPE_NAMES: dict[int, str] = {
    TypeRef.ARRAY: "an array",
    TypeRef.MAP: "a map",
    TypeRef.TEXT: "a text",
    TypeRef.XML_FRAGMENT: "an XML fragment",
    TypeRef.XML_HOOK: "an XML hook",
}
#: Where an item sits: (parent, map key); (None, None) when it hangs on an item Yjs has forgotten (GC).
_Location = tuple["str | ItemId | None", "str | None"]
_UNKNOWN: _Location = (None, None)


def check_update(
    update: bytes,
    known: bytes | None = None,
    *,
    schema: MeshSchema | None = None,
    elements: int = 0,
    max_elements: int | None = None,
) -> None:
    """Raise UpdateRefusedError if it breaks the layout beyond repair, RemoteProtocolError if unreadable.

    Without a replica: only what the update itself places is checked (see :class:`UpdateGuard` for
    the check against a replica's items). ``known``: the state vector of the replica it will be
    applied to; what that replica already holds is skipped by Yjs, so only the rest is read.
    ``schema``: which elements may hold text (without it, none may). With ``max_elements``, an update
    that would take a document of ``elements`` elements past that many is refused with
    DocumentLimitError.
    """
    placements = Placements()
    root_tag = None if schema is None else schema.root_tag_name
    placements.record(DecodedItem(_ROOT_ITEM, 1, Content.TYPE), _root_placement(root_tag))
    placements.record(
        DecodedItem((ROOT_CLIENT, 1), 1, Content.ANY), Placement(_ROOT_ITEM, ID_ATTRIBUTE, Content.ANY)
    )
    check = _Check(_decode(update, known), placements, _text_tags(schema))
    check.run()
    if max_elements is not None:
        _check_size(check.created(), elements, max_elements)


@dataclass(frozen=True, slots=True)
class GuardInput:
    """What :meth:`UpdateGuard.check` needs of the replica, read on the replica's thread."""

    #: The replica's state vector.
    known: bytes
    #: What the replica holds that the guard has not recorded yet (its own and repair edits), if any.
    behind: bytes | None
    elements: int


@dataclass(frozen=True, slots=True)
class CheckedUpdate:
    """An update that passed, with the placement of each new item, to record once it is applied."""

    items: list[tuple[DecodedItem, Placement]]
    deletes: dict[int, list[tuple[int, int]]]
    #: Who it writes for and which names it registers, read from the same decoded structs.
    claims: Claims
    #: Whether it holds only structs the replica lacks: applied, its bytes are then the transaction's
    #: update as is (``MeshDocument.apply_update(..., as_is=True)``).
    new_only: bool
    #: What it does to the replica's elements, for ``MeshDocument.apply_update``; None when only pycrdt's
    #: events can tell.
    effects: UpdateEffects | None
    #: How many structs it holds that the replica lacks (what pycrdt's apply costs in proportion to).
    structs: int
    #: Checked in another process (:meth:`UpdateGuard.check_elsewhere`): the whole record as it is once
    #: this update's items are in (``Placements.to_bytes``), and ``items`` is empty.
    record: bytes | None = None
    #: The update cut in pieces that amount to it, planned where it was read, for
    #: ``MeshDocument.apply_update(..., pieces=)``; None to apply it whole.
    pieces: list[bytes] | None = None


class UpdateGuard:
    """Checks the updates coming into one replica against every item that replica holds.

    ``prepare`` reads the replica (on the thread that owns it); ``check`` may run on a worker thread;
    ``accept`` records an update's items once it is applied. The guard learns what the replica got by
    other ways (local and repair edits) from ``prepare``: the replica's update since what was recorded.
    One check at a time per replica.
    """

    def __init__(self, doc: MeshDocument) -> None:
        self._doc = doc
        self._placements = Placements()

    def prepare(self) -> GuardInput:
        doc = self._doc
        known = doc.get_state()
        vector = decode_state_vector(known)
        recorded = self._placements.state
        behind = None
        if any(recorded.get(client, 0) < clock for client, clock in vector.items()):
            behind = doc.get_update(self._placements.encoded_state())
        return GuardInput(known, behind, len(doc))

    def priming(self, state: bytes) -> Callable[[], None]:
        """What records the replica's whole state (``get_update()``, taken where the replica is used)
        before its first check, which would otherwise record it then: a decode of every item, ~7-10 us
        each, on the way of the first edit. Pure Python on bytes, holding neither the guard nor the
        replica (an unloaded document is freed meanwhile): it may run on a worker thread while the
        replica is used; no check may start before it returns."""
        return functools.partial(_record_state, state, self._placements, self._doc.schema)

    def check(self, update: bytes, prepared: GuardInput, *, trusted_ids: bool = False) -> CheckedUpdate:
        """Raise UpdateRefusedError (or RemoteProtocolError, DocumentLimitError) or say what to record.

        ``trusted_ids``: the update comes from another node that already checked it, where a new element
        may carry an id this replica's elements hold (two nodes took it concurrently; the repair renames
        one, ADR 0011); from a participant, that is refused unless the update deletes the holder.
        """
        read = _read(update, prepared, self._placements, _text_tags(self._doc.schema))
        self._check_replica(read.new_ids, read.created, prepared, trusted_ids)
        return CheckedUpdate(
            read.placed, read.deletes, read.claims, read.new_only, read.effects, read.structs
        )

    def reads_elsewhere(self, update: bytes, prepared: GuardInput) -> bool:
        """Whether :meth:`check_elsewhere` spares this process more than the record's crossing costs it.

        Reading costs pure Python in proportion to the update (74 ms of CPU for 8 MiB of long values,
        80 ms for a 10k-element state); the record crosses twice as a few C calls that hold the GIL in
        proportion to the document (~190 bytes an element: ~3 ms each way for 10,000 elements, idle).
        So: a record smaller than the update, and small enough that its crossing is not itself a stall.
        """
        elements = prepared.elements
        return elements <= _ELSEWHERE_ELEMENTS and elements * _RECORD_BYTES_PER_ELEMENT <= len(update)

    def check_elsewhere(
        self, update: bytes, prepared: GuardInput, run: RunElsewhere, *, trusted_ids: bool = False
    ) -> CheckedUpdate:
        """:meth:`check`, with the reading done by ``run`` (in another process) on a copy of the record.

        The decode and the placing are pure Python in proportion to the update: on a thread of this
        process they share the GIL with the event loop. What crosses over is the update, the record
        (``Placements.to_bytes``: C calls in proportion to the document) and, back, the verdict, the
        record with the update's items in it and what ``MeshDocument.apply_update`` needs; the checks
        against the replica's element ids and its size stay here. Raises exactly what :meth:`check` does.
        """
        request = _GuardRequest(
            prepared.known, prepared.behind, self._placements.to_bytes(), _text_tags(self._doc.schema)
        )
        answer = pickle.loads(run(read_elsewhere, (update, pickle.dumps(request, protocol=5))))
        if isinstance(answer, _Refusal):
            raise answer.error(answer.message, hint=answer.hint)
        read, record = answer
        self._check_replica(read.new_ids, read.created, prepared, trusted_ids)
        pieces = cut(update, read.cuts) if read.cuts else None
        return CheckedUpdate(
            [], read.deletes, read.claims, read.new_only, read.effects, read.structs, record, pieces
        )

    def _check_replica(
        self, new_ids: list[tuple[str, bool]], created: int, prepared: GuardInput, trusted_ids: bool
    ) -> None:
        if not trusted_ids:
            _check_ids_free(new_ids, self._doc._elements)
        max_elements = self._doc.limits.max_elements
        if max_elements is not None:
            _check_size(created, prepared.elements, max_elements)

    def accept(self, checked: CheckedUpdate) -> None:
        """Record the items of an update the replica has applied."""
        if checked.record is not None:
            self._placements = Placements.from_bytes(checked.record)
            return
        _record(self._placements, checked.items, checked.deletes)


def merge_incoming(updates: Sequence[bytes]) -> bytes:
    """One update holding all of these, to check and apply as one (a run of a writer's small edits).

    Each is read here first, so yrs never merges bytes nobody has read: RemoteProtocolError if one
    cannot be. The merge is checked like any update; refused, it says nothing of which one was bad.
    """
    for update in updates:
        _decode(update, None)
    return merge_updates(*updates)


#: Runs a module-level function of bytes somewhere (the room server's worker process) and returns its bytes.
RunElsewhere = Callable[[Callable[[tuple[bytes, ...]], bytes], tuple[bytes, ...]], bytes]


@dataclass(frozen=True, slots=True)
class _Read:
    """One update read against the record: what the checks here need, and what to record once applied."""

    placed: list[tuple[DecodedItem, Placement]]
    deletes: dict[int, list[tuple[int, int]]]
    #: The id each new element gets, in order, and whether the update deletes the element holding it.
    new_ids: list[tuple[str, bool]]
    #: How many elements it creates.
    created: int
    claims: Claims
    new_only: bool
    effects: UpdateEffects | None
    structs: int
    #: Where to cut it in pieces (``read_elsewhere``, for an update of many structs).
    cuts: list[Cut] | None = None


def _read(update: bytes, prepared: GuardInput, placements: Placements, text_tags: frozenset[str]) -> _Read:
    """Record what the replica got otherwise, then read, place and check the update (all but the
    checks against the replica's elements). Raises UpdateRefusedError or RemoteProtocolError."""
    if prepared.behind is not None:
        _Check(_decode(prepared.behind, None), placements, text_tags).record()
    decoded = _decode(update, prepared.known)
    check = _Check(decoded, placements, text_tags, strict=True)
    placed = check.run()
    new_only = not decoded.repeats and all(item.content != Content.SKIP for item in decoded.items)
    effects = update_effects(placed, decoded.deletes, placements)
    return _Read(
        placed,
        decoded.deletes,
        check.new_ids(placed),
        check.created(),
        claims_in(decoded.items),
        new_only,
        effects,
        len(decoded.items),
    )


def _record(
    placements: Placements,
    items: list[tuple[DecodedItem, Placement]],
    deletes: dict[int, list[tuple[int, int]]],
) -> None:
    placements.record_all(items)
    placements.forget_deleted(deletes)


@dataclass(frozen=True, slots=True)
class _GuardRequest:
    """What :func:`read_elsewhere` gets besides the update: what the guard holds of the replica."""

    known: bytes
    behind: bytes | None
    record: bytes
    text_tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Refusal:
    """The error :func:`read_elsewhere` raised, to raise again as the same class with the same words."""

    error: type[MeshError]
    message: str
    hint: str | None


def read_elsewhere(arguments: tuple[bytes, ...]) -> bytes:
    """:func:`_read` of ``(update, pickled _GuardRequest)``, pickled, for another process; see
    :meth:`UpdateGuard.check_elsewhere`."""
    update, request_bytes = arguments
    request: _GuardRequest = pickle.loads(request_bytes)
    placements = Placements.from_bytes(request.record)
    prepared = GuardInput(request.known, request.behind, 0)
    answer: tuple[_Read, bytes] | _Refusal
    try:
        read = _read(update, prepared, placements, request.text_tags)
    except MeshError as exc:
        answer = _Refusal(type(exc), exc.message, exc.hint)
    else:
        # Recorded here as accept() would once it is applied; the caller takes the record only then,
        # and it stands for the placed items, which need not cross back.
        _record(placements, read.placed, read.deletes)
        answer = (replace(read, placed=[], cuts=_plan_pieces(update, read.structs)), placements.to_bytes())
    return pickle.dumps(answer, protocol=5)


def _plan_pieces(update: bytes, structs: int) -> list[Cut] | None:
    """Where to cut an update read elsewhere, planned there, where reading costs the server nothing."""
    if structs <= _APPLIED_PIECE_STRUCTS:
        return None
    try:
        return plan_cuts(update, _APPLIED_PIECE_STRUCTS)
    except UpdateFormatError:  # read whole already: not expected, but then it is applied whole
        return None


def _text_tags(schema: MeshSchema | None) -> frozenset[str]:
    """The elements that may hold text (without a schema, none)."""
    return (
        frozenset() if schema is None else frozenset(e.tag_name for e in schema.elements if e.text_property)
    )


def _record_state(state: bytes, placements: Placements, schema: MeshSchema) -> None:
    # Decoding allocates a container per item: a collection meanwhile would walk them all, and the
    # heap of every other document, holding the GIL (docs/adr/0017-big-frames-off-the-event-loop.md).
    with gc_paused():
        _Check(_decode(state, None), placements, _text_tags(schema)).record()


def _decode(update: bytes, known: bytes | None) -> DecodedUpdate:
    try:
        return decode_update(update, known)
    except ValueError as exc:  # UpdateFormatError
        raise RemoteProtocolError("the update cannot be applied", hint=str(exc)[:200]) from None


def _root_placement(root_tag: str | None) -> Placement:
    return Placement(FRAGMENT_NAME, None, Content.TYPE, TypeRef.XML_ELEMENT, root_tag)


class _Check:
    """One update's items placed and checked against the update and the recorded placements.

    Yjs writes the parent only for an item with neither origin; the others are in their origin's
    parent (under its key), found in the update or in the record. ``strict``: the record holds all the
    replica has, so an item placed beside something in neither builds on what the replica lacks.
    """

    def __init__(
        self,
        update: DecodedUpdate,
        placements: Placements,
        text_tags: frozenset[str],
        *,
        strict: bool = False,
    ) -> None:
        self._update = update
        self._placements = placements
        self._strict = strict
        self._text_tags = text_tags
        self._by_start = _ItemsByClient(update.items)
        self._located: dict[ItemId, _Location] = {}
        #: The items of the origin chain being walked (a hostile update can close it into a circle).
        self._walking: set[ItemId] = set()

    def run(self) -> list[tuple[DecodedItem, Placement]]:
        """Place and check every item and the deletes; what needs the replica's elements is left to
        :meth:`new_ids`, :meth:`created` and the caller."""
        deletes = self._update.deletes
        if ROOT_CLIENT in deletes:
            _refuse("it deletes the root element or its id")
        placed = self._place_all(self._update.items)
        if self._strict:
            self._check_order()
        for item, place in placed:
            self._check_item(item, place)
        self._check_deletes(placed)
        return placed

    def created(self) -> int:
        """How many elements the update creates."""
        return sum(
            1
            for item in self._update.items
            if item.type_ref == TypeRef.XML_ELEMENT and item.id[0] != ROOT_CLIENT
        )

    def record(self) -> None:
        """Record what the replica holds already (no checks)."""
        self._placements.record_all(self._place_all(self._update.items))
        self._placements.forget_deleted(self._update.deletes)

    # -- placing ----------------------------------------------------------------------------

    def _place_all(self, items: list[DecodedItem]) -> list[tuple[DecodedItem, Placement]]:
        placed: list[tuple[DecodedItem, Placement]] = []
        append = placed.append
        for item in items:
            content = item.content
            if content == Content.SKIP:
                continue
            if content == Content.GC:
                append((item, FORGOTTEN))
                continue
            parent: str | ItemId | None = item.parent
            if parent is None:
                parent, key = self._locate(item)
            else:
                key = item.key
            # Built as a plain tuple: the class call costs as much again, for every item of a state.
            append((item, tuple.__new__(Placement, (parent, key, content, item.type_ref, item.type_name))))
        return placed

    def _locate(self, item: DecodedItem) -> _Location:
        if item.parent is not None:
            return item.parent, item.key
        # Follows origins through the update with a loop, not recursion: chains can be long.
        chain: list[ItemId] = []
        location: _Location | None = None
        current = item
        while location is None:
            found = self._located.get(current.id)
            if found is not None:
                location = found
                break
            if current.content == Content.GC or current.content == Content.SKIP:
                location = _UNKNOWN
                break
            if current.id in self._walking:
                _refuse("its items are placed beside one another in a circle")
            self._walking.add(current.id)
            chain.append(current.id)
            if current.parent is not None:
                location = (current.parent, current.key)
                break
            neighbour = current.origin or current.right_origin
            assert neighbour is not None  # the decoder reads a parent when there is no origin
            inside = self._by_start.item(neighbour)
            if inside is not None:
                current = inside
                continue
            recorded = self._placements.get(neighbour)
            if recorded is None:
                if self._strict:
                    _refuse_missing(neighbour)
                location = _UNKNOWN
            else:
                location = (recorded.parent, recorded.key)
        for item_id in chain:
            self._located[item_id] = location
        self._walking.clear()
        return location

    def _parent_placement(self, parent: ItemId) -> Placement | None:
        inside = self._by_start.item(parent)
        if inside is not None:
            if inside.id != parent:
                return Placement(None, None, inside.content)  # the middle of a string, say
            if inside.content == Content.GC:
                return FORGOTTEN
            where, key = self._locate(inside)
            return Placement(where, key, inside.content, inside.type_ref, inside.type_name)
        recorded = self._placements.get(parent)
        if recorded is None and self._strict:
            _refuse_missing(parent)
        return recorded

    def _check_order(self) -> None:
        # An item past a gap in its client's clocks waits in Yjs, unchecked, until the gap is filled.
        state = self._placements.state
        for client, first in self._by_start.firsts().items():
            if first > state.get(client, 0):
                _refuse_missing((client, state.get(client, 0)))

    # -- rules ------------------------------------------------------------------------------

    def _check_item(self, item: DecodedItem, place: Placement) -> None:
        client, clock = item.id
        if client == ROOT_CLIENT:
            # Every replica already holds these clocks (the root recipe); Yjs skips them.
            if clock + item.length > _ROOT_CLOCKS:
                _refuse(f"it writes as client {ROOT_CLIENT}, which only creates the root")
            return
        if item.content == Content.GC or item.content == Content.SKIP:
            return
        for neighbour in (item.origin, item.right_origin):
            if neighbour is not None and neighbour[0] == ROOT_CLIENT:
                _refuse("it inserts beside the root element or rewrites the root's id")
        parent, key = place.parent, place.key
        if isinstance(parent, tuple) and parent[0] == ROOT_CLIENT and parent != _ROOT_ITEM:
            _refuse("it nests an item inside the root's id")
        if parent == PARTICIPANTS_MAP:
            if item.content != Content.DELETED:  # an overwritten entry, in a full state
                _check_participant_entry(item, key)
            return
        # Even deleted content creates the top-level type it names.
        if isinstance(parent, str):
            if parent == FRAGMENT_NAME:
                _refuse("it inserts a second root element")
            _refuse(f"it creates the top-level type {parent!r}; documents hold only {FRAGMENT_NAME!r}")
        if item.content == Content.DELETED:
            return
        if item.content in _CONTENT_NAMES:
            _refuse(f"it inserts {_CONTENT_NAMES[item.content]}, which no schema allows")
        if item.content == Content.TYPE and item.type_ref not in (TypeRef.XML_ELEMENT, TypeRef.XML_TEXT):
            kind = _TYPE_NAMES.get(item.type_ref or 0, "a shared type")
            _refuse(f"it creates {kind}; documents hold only elements and their text")
        if item.content == Content.ANY and key == ID_ATTRIBUTE:
            value = item.values[0] if len(item.values) == 1 else None
            if not isinstance(value, str) or ELEMENT_ID_PATTERN.fullmatch(value) is None:
                _refuse(f"{value!r} is not an element id (1-64 letters, digits, '_' or '-')")
        if parent is None:
            return  # anchored to a forgotten (GC'd) item: Yjs drops it as well
        holder = self._parent_placement(parent)
        if holder is None or holder.content in (Content.GC, Content.DELETED):
            return  # inside a deleted type: Yjs integrates it as deleted
        if holder.content != Content.TYPE:
            _refuse("it puts an item inside a value, which holds no content")
        if holder.type_ref == TypeRef.XML_TEXT:
            self._check_in_text(item, key, holder)
        elif holder.type_ref == TypeRef.XML_ELEMENT:
            tag = holder.type_name
            self._check_in_element(item, key, tag)
        else:
            _refuse("it writes into a shared type documents do not hold")

    def _check_in_element(self, item: DecodedItem, key: str | None, tag: str | None) -> None:
        if key is not None:
            if item.content == Content.TYPE:
                _refuse(f"it stores an element in the attribute {key!r}")
            if item.content != Content.ANY:
                _refuse(f"it puts {_TEXT_CONTENT.get(item.content, 'content')} in the attribute {key!r}")
            return
        if item.content in _TEXT_CONTENT:
            _refuse(f"it inserts {_TEXT_CONTENT[item.content]} outside a text node")
        if item.content == Content.ANY:
            _refuse("it puts a plain value among an element's children")
        if item.type_ref == TypeRef.XML_TEXT and tag not in self._text_tags:
            _refuse("it creates a text node in an element whose type declares no text")

    def _check_in_text(self, item: DecodedItem, key: str | None, text: Placement) -> None:
        element = self._parent_placement(text.parent) if isinstance(text.parent, tuple) else None
        # Such a text cannot be there (its creation is refused), unless stored before this check existed.
        if (
            element is not None
            and element.type_ref == TypeRef.XML_ELEMENT
            and element.type_name not in self._text_tags
        ):
            _refuse("it writes into a text node of an element whose type declares no text")
        if key is not None:
            _refuse("it sets an attribute on a text node")
        if item.content == Content.TYPE:
            _refuse("it puts an element or a text node inside a text")
        if item.content == Content.ANY:
            _refuse("it puts a plain value inside a text")

    def _check_deletes(self, placed: list[tuple[DecodedItem, Placement]]) -> None:
        # A participant's entry may be deleted only by writing it anew (an overwrite deletes the old one).
        rewritten = {place.key for _, place in placed if place.parent == PARTICIPANTS_MAP}
        for entry, key in self._placements.entries.items():
            if key not in rewritten and self._deletes(entry):
                _refuse(f"it deletes a {PARTICIPANTS_MAP!r} entry without writing it anew")

    def new_ids(self, placed: list[tuple[DecodedItem, Placement]]) -> list[tuple[str, bool]]:
        """The id each new element gets, in order, and whether the update deletes the element the
        record says holds it now (for :func:`_check_ids_free`)."""
        created = {item.id for item, _ in placed if item.type_ref == TypeRef.XML_ELEMENT}
        new_ids = []
        for item, place in placed:
            if place.key != ID_ATTRIBUTE or place.parent not in created or not item.values:
                continue
            if self._deletes(place.parent):
                continue  # created and deleted again within the update (a merged append, then a move)
            value = item.values[0]
            if isinstance(value, str):
                new_ids.append((value, self._deletes(self._placements.holder(value))))
        return new_ids

    def _deletes(self, item_id: ItemId | None) -> bool:
        return item_id is not None and covers(self._update.deletes, item_id)


class _ItemsByClient:
    """An update's items by id (an id inside an item's clock range finds that item)."""

    def __init__(self, items: list[DecodedItem]) -> None:
        self._runs: dict[int, tuple[list[int], list[DecodedItem]]] = {}
        for item in items:
            starts, found = self._runs.setdefault(item.id[0], ([], []))
            starts.append(item.id[1])
            found.append(item)
        for starts, found in self._runs.values():
            if any(starts[i] > starts[i + 1] for i in range(len(starts) - 1)):
                order = sorted(range(len(starts)), key=starts.__getitem__)
                starts[:] = [starts[i] for i in order]
                found[:] = [found[i] for i in order]

    def item(self, item_id: ItemId) -> DecodedItem | None:
        entry = self._runs.get(item_id[0])
        if entry is None:
            return None
        starts, found = entry
        at = bisect_right(starts, item_id[1]) - 1
        if at < 0 or item_id[1] >= starts[at] + found[at].length:
            return None
        return found[at]

    def firsts(self) -> dict[int, int]:
        """Each client's first clock in the update, skips aside."""
        out = {}
        for client, (_, found) in self._runs.items():
            first = next((item for item in found if item.content != Content.SKIP), None)
            if first is not None:
                out[client] = first.id[1]
        return out


def _check_ids_free(new_ids: list[tuple[str, bool]], taken: Container[str]) -> None:
    """Refuse two new elements given one id, or a new element given an id an element of the replica
    holds, unless the update deletes that element (a move)."""
    seen: set[str] = set()
    for value, holder_deleted in new_ids:
        if value in seen:
            _refuse(f"it gives two new elements the id {value!r}")
        seen.add(value)
        if value in taken and not holder_deleted:
            _refuse(
                f"it gives a new element the id {value!r}, which an element of the document holds"
                " (a move deletes the old element in the same update)"
            )


def _check_size(created: int, elements: int, max_elements: int) -> None:
    if elements + created > max_elements:
        raise rules.too_many_elements(max_elements)


def _check_participant_entry(item: DecodedItem, key: str | None) -> None:
    # A client may name only itself: otherwise a writer could book its edits to someone else.
    if item.content != Content.ANY or key != str(item.id[0]):
        _refuse(f"it writes {PARTICIPANTS_MAP!r} entries other than its own client's name")
    if len(item.values) != 1 or not isinstance(item.values[0], str):
        _refuse(f"a {PARTICIPANTS_MAP!r} entry is a participant's name, a string")


def _refuse_missing(item_id: ItemId) -> NoReturn:
    raise UpdateRefusedError(
        f"the update was refused: it builds on item {item_id[0]}:{item_id[1]}, which this document lacks",
        hint="reopen the document: the server sends what you are missing; nothing was applied",
    )


def _refuse(reason: str) -> NoReturn:
    raise UpdateRefusedError(
        f"the update was refused: {reason}",
        hint="edit through the document API, or keep to docs/document-layout.md; nothing was applied",
    )
