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

from ..schema import ID_ATTRIBUTE
from ._layout import PARTICIPANTS_MAP
from ._placements import Placement, Placements, covers
from ._yjs_update import Content, DecodedItem, ItemId, TypeRef

__all__ = ["UpdateEffects", "update_effects"]


@dataclass(frozen=True, slots=True)
class UpdateEffects:
    """What an update that inserts no element or text node does to the elements it reaches."""

    #: Elements it deletes (each with its subtree), by id; an element inside another deleted one is left out.
    deleted: list[str] = field(default_factory=list)
    #: (element id, attribute name) of every attribute it sets or removes, once each.
    attributes: dict[tuple[str, str], None] = field(default_factory=dict)
    #: Element id -> whether the edit of its text may break the schema (marks or embeds touched).
    texts: dict[str, bool] = field(default_factory=dict)


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
        for item_id, place in placements.deleted(deletes):
            reader.delete(item_id, place)
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
            self._text(holder, suspect=item.content not in (Content.STRING, Content.DELETED))
        elif place.key is not None:
            self._attribute(place)
        elif item.content != Content.DELETED:  # a deleted child changes no element's children
            raise _NeedsEvents

    def delete(self, item_id: ItemId, place: Placement) -> None:
        """A recorded run the delete set reaches."""
        if place.content in (Content.GC, Content.DELETED):
            return  # gone already
        holder = self._holder(place)
        if holder is None:
            return
        assert isinstance(place.parent, tuple)  # else _holder would have said
        if covers(self._deletes, place.parent):
            return  # inside an element or text deleted with it
        if holder.type_ref == TypeRef.XML_TEXT:
            self._text(holder, suspect=place.content != Content.STRING)
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

    def _attribute(self, place: Placement) -> None:
        assert isinstance(place.parent, tuple) and place.key is not None
        if place.key == ID_ATTRIBUTE:
            raise _NeedsEvents  # an id rewritten or removed: the repair needs what the events say
        self.effects.attributes[self._element_id(place.parent), place.key] = None

    def _text(self, text: Placement, *, suspect: bool) -> None:
        if not isinstance(text.parent, tuple):
            raise _NeedsEvents
        element_id = self._element_id(text.parent)
        self.effects.texts[element_id] = suspect or self.effects.texts.get(element_id, False)

    def _element_id(self, element: ItemId) -> str:
        element_id = self._placements.element_id(element)
        if element_id is None:
            raise _NeedsEvents  # no string id, or one several elements hold
        return element_id
