"""What an update does to a replica's elements, read from the update and the item record before it is applied.

pycrdt reports what a transaction changed only through its events, and yrs builds every field of an
event eagerly: the delta of an element whose children changed walks all its children, and the path of
any event walks the siblings of each ancestor. In a list of 100k elements that made one remote delete
cost ~30x what applying it costs (docs/adr/0018-remote-changes-without-deep-events.md). The room server
decodes and places every incoming update anyway (the update guard, with its record of every item the
replica holds), so for the edits that insert nothing it can say what changed without any event:
elements deleted, attributes set or removed, text edited.

Inserts are left to the events: they alone hand over the integrated objects of new elements (pycrdt
looks nothing up by item id, and reaching a child by position walks the parent's children too).
So is anything this module cannot resolve from the record; it answers None and the replica observes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ..schema import ID_ATTRIBUTE
from ._layout import PARTICIPANTS_MAP
from ._placements import Placement, Placements, covers, overlaps
from ._yjs_update import Content, DecodedItem, ItemId, TypeRef

__all__ = ["TextCut", "UpdateEffects", "update_effects"]


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
    """What an update that inserts no element or text node does to the elements it reaches."""

    #: Elements it deletes (each with its subtree), by id; an element inside another deleted one is left out.
    deleted: list[str] = field(default_factory=list)
    #: (element id, attribute name) -> the new items that write there (none if it only deletes some).
    attributes: dict[tuple[str, str], list[ItemId]] = field(default_factory=dict)
    #: Element id -> whether what it types into the element's text may break the schema (marks, embeds).
    texts: dict[str, bool] = field(default_factory=dict)
    #: What it deletes of texts.
    cuts: list[TextCut] = field(default_factory=list)

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
    """The update inserts something, or reaches an item the record cannot resolve."""


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
            reader.add(item, place)
        if not placements.holds(deletes):
            raise _NeedsEvents  # deletes items of this very update, or items the replica lacks
        for item_id, end, place in placements.deleted(deletes):
            reader.delete(item_id, end, place)
    except _NeedsEvents:
        return None
    return reader.effects


class _EffectsReader:
    def __init__(self, placements: Placements, deletes: dict[int, list[tuple[int, int]]]) -> None:
        self._placements = placements
        self._deletes = deletes
        self.effects = UpdateEffects()

    def add(self, item: DecodedItem, place: Placement) -> None:
        """A new item: an attribute value or text content (anything else needs the events)."""
        if item.content == Content.TYPE:
            raise _NeedsEvents  # an element or a text node inserted
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
        assert isinstance(place.parent, tuple)  # else _holder would have said
        if covers(self._deletes, place.parent):
            return  # inside an element or text deleted with it
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

    def _holder(self, place: Placement) -> Placement | None:
        """The placement of the element or text the item sits in; None where the item changes nothing."""
        parent = place.parent
        if parent is None or parent == PARTICIPANTS_MAP:
            return None  # beside a forgotten item (Yjs drops it), or a participant's name
        if not isinstance(parent, tuple):
            raise _NeedsEvents  # the root itself
        holder = self._placements.get(parent)
        if holder is None:
            raise _NeedsEvents  # created by this very update
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
