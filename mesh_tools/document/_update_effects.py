"""What an update does to a replica's elements, read from the update and the item record before it is applied.

pycrdt reports what a transaction changed only through its events, and yrs builds every field of an
event eagerly: the delta of an element whose children changed walks all its children, and the path of
any event walks the siblings of each ancestor. In a list of 100k elements that made one remote delete
cost ~30x what applying it costs (docs/adr/0018-remote-changes-without-deep-events.md). The room server
decodes and places every incoming update anyway (the update guard, with its record of every item the
replica holds), so for most edits it can say what changed without any event: elements deleted,
attributes set or removed, text edited, and elements inserted with what they hold (their subtrees as
:data:`Node` tuples, which the schema check reads as it reads the CRDT; the replica finds their
integrated objects only when something reads them).

What it cannot resolve from the record (an insert beside a text node or a deleted sibling, a new text
holding more than characters typed in one go, a text node inserted into an existing element, ...)
makes it answer None, and the replica observes the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from ..schema import ID_ATTRIBUTE
from ._layout import ELEMENT_ID_PATTERN, PARTICIPANTS_MAP
from ._placements import Placement, Placements, covers, overlaps
from ._pycrdt import Node, TextChunks
from ._yjs_update import Content, DecodedItem, ItemId, TypeRef

__all__ = ["InsertedElement", "Side", "TextCut", "UpdateEffects", "update_effects"]

#: One of an insert's two origins.
Side = Literal["left", "right"]


class InsertedElement(NamedTuple):
    """An element the update inserts among the children of an element the replica holds.

    Where it lands follows from its Yjs origins, the siblings it was inserted between when it was made:
    the replica places it there only where those two are still next to each other
    (``ElementIndex.place_inserted``), else nothing else could have come between them.
    """

    #: The id of the element it is inserted into.
    parent: str
    #: The id of the sibling it was inserted after (one the replica holds, or one this update inserts
    #: before it); None for the first place, or when that sibling is ``gone``.
    left: str | None
    #: The id of the sibling it was inserted before; None for the end, or when that sibling is ``gone``.
    right: str | None
    #: Its subtree, as the schema check reads it.
    node: Node
    #: Which of its origins is a sibling deleted since, or one the index does not name (Yjs inserts
    #: beside deleted items too): it then lands next to the other origin unless another writer inserted
    #: there concurrently, which only the applied CRDT shows (``ElementIndex.settle``).
    gone: Side | None = None


class TextCut(NamedTuple):
    """Characters or marks of an element's text that the update deletes, unless they are gone already.

    A delete set names everything its sender had deleted, not only what it deleted last (an update
    made from a state vector carries the whole of it), so which cuts are new is known only once the
    update is applied: from the transaction's own delete set.
    """

    client: int
    start: int
    end: int
    element_id: str
    #: Whether it reaches marks or embeds, which can break the schema.
    suspect: bool


@dataclass(frozen=True, slots=True)
class UpdateEffects:
    """What an update does to the elements it reaches."""

    #: Elements it deletes (each with its subtree), by id; an element inside another deleted one is left out.
    deleted: list[str] = field(default_factory=list)
    #: (element id, attribute name) -> the new items that write there (none if it only deletes some).
    attributes: dict[tuple[str, str], list[ItemId]] = field(default_factory=dict)
    #: Element id -> whether what it types into the element's text may break the schema (marks, embeds).
    texts: dict[str, bool] = field(default_factory=dict)
    #: What it deletes of texts.
    cuts: list[TextCut] = field(default_factory=list)
    #: Elements it inserts into elements the replica holds, in the update's order.
    inserted: list[InsertedElement] = field(default_factory=list)

    def texts_changed(self, deleted_now: dict[int, list[tuple[int, int]]]) -> dict[str, bool]:
        """Element id -> whether the edit may break the schema, for every text the update changed,
        given what its transaction deleted."""
        texts = dict(self.texts)
        for cut in self.cuts:
            if overlaps(deleted_now, cut.client, cut.start, cut.end):
                texts[cut.element_id] = cut.suspect or texts.get(cut.element_id, False)
        return texts


#: What a text holds that cannot break the schema: characters (deleted ones too).
_CHARACTERS = (Content.STRING, Content.DELETED)


class _NeedsEvents(Exception):
    """The update reaches an item the record cannot resolve, or inserts what only the events can place."""


class _NewType:
    """An element or text node the update creates: where it sits, and what the update puts in it."""

    __slots__ = ("attributes", "characters", "children", "item", "parent", "texts")

    def __init__(self, item: DecodedItem, parent: ItemId) -> None:
        self.item = item
        self.parent = parent
        self.attributes: dict[str, object] = {}
        #: The new types in it, in their order.
        self.children: list[ItemId] = []
        #: Whether it is a text node.
        self.texts = item.type_ref == TypeRef.XML_TEXT
        #: A text node's string items.
        self.characters: list[DecodedItem] = []

    def chunks(self, deleted: Callable[[int, int, int], bool]) -> TextChunks:
        """A new text's content as ``diff()`` reads it, when it is characters typed one after another
        (what one writer's transaction makes); anything else (marks, embeds, concurrent typing) is
        left to the events."""
        previous: DecodedItem | None = None
        for item in self.characters:
            last = None if previous is None else (previous.id[0], previous.id[1] + previous.length - 1)
            if item.content != Content.STRING or item.origin != last or item.right_origin is not None:
                raise _NeedsEvents
            if deleted(item.id[0], item.id[1], item.id[1] + item.length):
                raise _NeedsEvents  # typed and cut again within the update
            previous = item
        text = "".join(item.values[0] for item in self.characters)
        return [(text, None)] if text else []


def update_effects(
    placed: list[tuple[DecodedItem, Placement]],
    deletes: dict[int, list[tuple[int, int]]],
    placements: Placements,
) -> UpdateEffects | None:
    """What the update (its new items, placed, and its delete set) does; None if only events can tell.

    ``placements`` is the record of the replica the update is about to be applied to.
    """
    reader = _EffectsReader(placements, deletes)
    try:
        for item, place in placed:
            if item.content == Content.TYPE:
                reader.create(item, place)
        for item, place in placed:
            if item.content != Content.TYPE:
                reader.add(item, place)
        if not placements.holds(deletes, _ends(placed)):
            raise _NeedsEvents  # deletes items neither the replica nor the update holds
        for item_id, end, place in placements.deleted(deletes):
            reader.delete(item_id, end, place)
        reader.insert_new()
    except _NeedsEvents:
        return None
    return reader.effects


class _EffectsReader:
    def __init__(self, placements: Placements, deletes: dict[int, list[tuple[int, int]]]) -> None:
        self._placements = placements
        self._deletes = deletes
        self.effects = UpdateEffects()
        #: The elements and text nodes the update creates, in its order.
        self._new: dict[ItemId, _NewType] = {}

    def create(self, item: DecodedItem, place: Placement) -> None:
        """A new element or text node, among some element's children."""
        if (
            item.type_ref not in (TypeRef.XML_ELEMENT, TypeRef.XML_TEXT)
            or place.key is not None
            or not isinstance(place.parent, tuple)
        ):
            raise _NeedsEvents
        self._new[item.id] = _NewType(item, place.parent)

    def add(self, item: DecodedItem, place: Placement) -> None:
        """A new item: an attribute value or text content."""
        new = self._new.get(place.parent) if isinstance(place.parent, tuple) else None
        if new is not None:
            if new.texts and place.key is None:
                new.characters.append(item)
                return
            if new.texts or place.key is None:
                raise _NeedsEvents
            # An attribute of a new element. Every write to it is in this update, and of a key's
            # writes only the last stays undeleted (each deletes the one before as it integrates): a
            # write the update deletes (overwritten, or the attribute removed) is not the value.
            if item.content == Content.DELETED or covers(self._deletes, item.id):
                return
            # Two writes left standing (concurrent writers merged): which one wins, the events know.
            if item.content != Content.ANY or len(item.values) != 1 or place.key in new.attributes:
                raise _NeedsEvents
            new.attributes[place.key] = item.values[0]
            return
        holder = self._holder(place)
        if holder is None:
            return
        if holder.type_ref == TypeRef.XML_TEXT:
            element_id = self._text_holder(holder)
            texts = self.effects.texts
            texts[element_id] = texts.get(element_id, False) or item.content not in _CHARACTERS
        elif place.key is not None:
            self._attribute(place).append(item.id)
        elif item.content != Content.DELETED:  # a deleted child changes no element's children
            raise _NeedsEvents

    def delete(self, item_id: ItemId, end: int, place: Placement) -> None:
        """Recorded items the delete set reaches: from ``item_id`` to clock ``end``, in one place."""
        if place.content in (Content.GC, Content.DELETED):
            return  # gone already
        holder = self._holder(place)
        if holder is None:
            return
        if holder.type_ref == TypeRef.XML_TEXT:
            client, start = item_id
            suspect = place.content not in _CHARACTERS
            self.effects.cuts.append(TextCut(client, start, end, self._text_holder(holder), suspect))
        elif place.key is not None:
            self._attribute(place)
        elif place.type_ref == TypeRef.XML_ELEMENT:
            self.effects.deleted.append(self._element_id(item_id))
        else:
            raise _NeedsEvents  # a text node deleted: its element's children change

    def insert_new(self) -> None:
        """Turn the new elements into the subtrees the update inserts into elements the replica holds."""
        tops: list[_NewType] = []
        for new in self._new.values():
            parent = self._new.get(new.parent)
            if parent is None:
                if not covers(self._deletes, new.item.id):  # else Yjs integrates it deleted: no insert
                    tops.append(new)
            else:
                _place_new(parent.children, new.item)
        ids: dict[ItemId, str] = {}
        taken: set[str] = set()
        nodes = [(new, self._node(new, ids, taken)) for new in tops]
        for new, node in nodes:
            holder = self._placements.get(new.parent)
            if (
                new.texts  # a text node among an existing element's children: its entries move
                or holder is None
                or holder.content != Content.TYPE
                or holder.type_ref != TypeRef.XML_ELEMENT
                or covers(self._deletes, new.parent)
            ):
                raise _NeedsEvents
            item = new.item
            gone: Side | None = None
            if self._gone(item.origin):
                gone = "left"
            elif self._gone(item.right_origin):
                gone = "right"
            self.effects.inserted.append(
                InsertedElement(
                    self._element_id(new.parent),
                    None if gone == "left" else self._sibling(item.origin, ids),
                    None if gone == "right" else self._sibling(item.right_origin, ids),
                    node,
                    gone,
                )
            )

    def _node(self, top: _NewType, ids: dict[ItemId, str], taken: set[str]) -> Node:
        """A new element's subtree as the schema check reads it; ``ids`` gets every new element's id
        by item, ``taken`` every id."""
        stack: list[tuple[_NewType, list[tuple[int, Node]], list[tuple[int, TextChunks]]]] = []

        def node_of(new: _NewType) -> Node:
            element_id = new.attributes.get(ID_ATTRIBUTE)
            if not isinstance(element_id, str) or ELEMENT_ID_PATTERN.fullmatch(element_id) is None:
                raise _NeedsEvents  # only a whole-document check places an element without a usable id
            if element_id in taken:
                raise _NeedsEvents
            ids[new.item.id] = element_id
            taken.add(element_id)
            assert new.item.type_name is not None
            elements: list[tuple[int, Node]] = []
            texts: list[tuple[int, TextChunks]] = []
            stack.append((new, elements, texts))
            return (new.item.type_name, list(new.attributes.items()), elements, texts)

        if top.texts:
            raise _NeedsEvents
        node = node_of(top)
        while stack:
            new, elements, texts = stack.pop()
            live = [child_id for child_id in new.children if not covers(self._deletes, child_id)]
            for raw, child_id in enumerate(live):
                child = self._new[child_id]
                if child.texts:
                    texts.append((raw, child.chunks(self._cut)))
                else:
                    elements.append((raw, node_of(child)))
        return node

    def _cut(self, client: int, start: int, end: int) -> bool:
        return overlaps(self._deletes, client, start, end)

    def _sibling(self, origin: ItemId | None, ids: dict[ItemId, str]) -> str | None:
        """The id of the element an insert's origin names."""
        if origin is None:
            return None
        if origin in self._new:
            if origin not in ids:
                raise _NeedsEvents  # a new text node
            return ids[origin]
        return self._element_id(origin)

    def _gone(self, origin: ItemId | None) -> bool:
        """Whether ``origin`` is a sibling the index cannot name: deleted (before this update, or new and
        deleted within it), or an element without a sole id."""
        if origin is None:
            return False
        if origin in self._new:
            return covers(self._deletes, origin)
        place = self._placements.get(origin)
        if place is None:
            return False
        if place.content == Content.GC:
            return False  # Yjs drops an item beside a garbage-collected one: the events show it
        if place.content == Content.DELETED:
            return True
        return place.type_ref == TypeRef.XML_ELEMENT and self._placements.element_id(origin) is None

    def _holder(self, place: Placement) -> Placement | None:
        """The placement of the element or text the item sits in; None where the item changes nothing."""
        parent = place.parent
        if parent is None or parent == PARTICIPANTS_MAP:
            return None  # beside a forgotten item (Yjs drops it), or a participant's name
        if not isinstance(parent, tuple):
            raise _NeedsEvents  # the root itself
        holder = self._placements.get(parent)
        if holder is None:
            raise _NeedsEvents  # inside something the update creates, which it can only be as above
        if holder.content in (Content.GC, Content.DELETED):
            return None  # inside a deleted type: Yjs integrates it deleted
        if holder.type_ref not in (TypeRef.XML_ELEMENT, TypeRef.XML_TEXT):
            raise _NeedsEvents
        return holder

    def _attribute(self, place: Placement) -> list[ItemId]:
        """The items writing to the attribute so far (a list to add to)."""
        assert isinstance(place.parent, tuple) and place.key is not None
        if place.key == ID_ATTRIBUTE:
            raise _NeedsEvents  # an id rewritten or removed: the repair needs what the events say
        return self.effects.attributes.setdefault((self._element_id(place.parent), place.key), [])

    def _text_holder(self, text: Placement) -> str:
        if not isinstance(text.parent, tuple):
            raise _NeedsEvents
        return self._element_id(text.parent)

    def _element_id(self, element: ItemId) -> str:
        element_id = self._placements.element_id(element)
        if element_id is None:
            raise _NeedsEvents  # no string id, or one several elements hold
        return element_id


def _ends(placed: list[tuple[DecodedItem, Placement]]) -> dict[int, int]:
    """Client -> the clock after the last of its items in the update."""
    ends: dict[int, int] = {}
    for item, _ in placed:
        client, clock = item.id
        ends[client] = max(ends.get(client, 0), clock + item.length)
    return ends


def _place_new(siblings: list[ItemId], item: DecodedItem) -> None:
    """Place a new type among the new children of a new element, between its origins, which must be
    next to each other there already: then no concurrent insert can have come between them."""
    left, right = item.origin, item.right_origin
    if left is None:
        at = 0
    elif siblings and siblings[-1] == left:  # appended: the usual case, found without a search
        at = len(siblings)
    elif left in siblings:
        at = siblings.index(left) + 1
    else:
        raise _NeedsEvents  # placed beside something not placed yet, or not in this element
    if (siblings[at] if at < len(siblings) else None) != right:
        raise _NeedsEvents
    siblings.insert(at, item.id)
