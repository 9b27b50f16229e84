"""The id index: every element's handle, parent and children by id, kept in step with the CRDT.

Local writes index what they built themselves; remote updates arrive as pycrdt XmlEvents, which
:meth:`ElementIndex.integrate` turns into index changes and :mod:`document events <._events>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import XmlElement, XmlEvent, XmlFragment, XmlText

from ..schema import ID_ATTRIBUTE
from ._build import Built
from ._element import Element
from ._events import AttributeChanged, DocumentEvent, ElementDeleted, ElementInserted
from ._layout import id_of, read_value

if TYPE_CHECKING:
    from ._replica import MeshDocument

__all__ = ["ElementIndex", "Integration"]


@dataclass(slots=True)
class Integration:
    """What a batch of remote XmlEvents changed: the events to check, or that only a full check will do.

    ``renamed`` and ``imposters`` let the repair undo what no later edit may keep, without touching the
    element that owns an id: an element whose ``$id`` was rewritten or removed gets its old id back, and
    an inserted element carrying an id some element already has gets a fresh one.
    """

    changes: list[DocumentEvent] = field(default_factory=list)
    check_all: bool = False
    #: (element, the id it had) for every ``$id`` rewritten or removed by the update.
    renamed: list[tuple[XmlElement, str]] = field(default_factory=list)
    #: Inserted elements whose id another element already had; left out of the index.
    imposters: list[XmlElement] = field(default_factory=list)


class ElementIndex:
    """Element handles by id, with each element's parent and child ids.

    ``elements`` is a plain dict that stays the same object for the document's life: readers look
    handles up in it directly (a dict subclass or a method call would add ~30% to every lookup).
    Index changes append their events to ``events`` (the document's pending events).
    """

    __slots__ = ("_doc", "_events", "elements", "kids", "parents")

    def __init__(self, doc: MeshDocument, events: list[DocumentEvent]) -> None:
        self._doc = doc
        self._events = events
        self.elements: dict[str, Element] = {}
        self.parents: dict[str, str | None] = {}
        self.kids: dict[str, set[str]] = {}

    def __iter__(self) -> Iterator[str]:
        """The ids of every indexed element."""
        return iter(self.elements)

    def add_built(self, xml: XmlElement, built: Built, parent_id: str) -> Element:
        """Index a subtree this replica just inserted, from the outline the builder made of it."""
        top: Element | None = None
        stack = [(xml, built, parent_id)]
        while stack:
            node, (element_id, tag, children), parent = stack.pop()
            element = self.elements[element_id] = Element(self._doc, node, element_id, tag)
            top = top or element
            self.parents[element_id] = parent
            self.kids.setdefault(parent, set()).add(element_id)
            if children:
                integrated = [c for c in node.children if isinstance(c, XmlElement)]
                stack.extend((c, b, element_id) for c, b in zip(integrated, children, strict=True))
        assert top is not None
        return top

    def add_subtree(
        self,
        xml: XmlElement,
        parent_id: str | None,
        previous: Mapping[str, Element] | None = None,
        imposters: list[XmlElement] | None = None,
    ) -> Element | None:
        """Index a subtree read from the CRDT, reusing the handles in ``previous`` where they still fit.

        Elements without a string id are skipped with their subtrees: only a raw update can create
        them; validate() reports them and repair() mends them. With ``imposters`` (a remote insert),
        an element whose id is indexed already is skipped too and listed there, so the element that
        owns the id keeps its handle. Walked with a stack: any depth is fine.
        """
        handles = previous or self.elements
        top: Element | None = None
        stack: list[tuple[XmlElement, str | None]] = [(xml, parent_id)]
        while stack:
            node, parent = stack.pop()
            element_id = id_of(node)
            if element_id is None:
                continue
            if imposters is not None and element_id in self.elements:
                imposters.append(node)
                continue
            tag = node.tag or ""
            element = handles.get(element_id)
            if element is not None and element.tag_name == tag:
                element._xml = node  # keep handles that callers hold alive across a re-index
            else:
                element = Element(self._doc, node, element_id, tag)
            top = top or element
            self.elements[element_id] = element
            self.parents[element_id] = parent
            if parent is not None:
                self.kids.setdefault(parent, set()).add(element_id)
            stack.extend((child, element_id) for child in node.children if isinstance(child, XmlElement))
        return top

    def forget(self, element_id: str, *, local: bool) -> None:
        """Drop an element and its subtree from the index, with one ElementDeleted each."""
        parent_id = self.parents.get(element_id)
        if element_id in self.elements and parent_id is not None:
            self.kids.get(parent_id, set()).discard(element_id)
        deleted: list[ElementDeleted] = []
        stack = [element_id]
        while stack:
            gone = stack.pop()
            element = self.elements.pop(gone, None)
            if element is None:
                continue
            self.parents.pop(gone, None)
            stack.extend(self.kids.pop(gone, set()))
            deleted.append(ElementDeleted(gone, element.tag_name, local))
        self._events.extend(reversed(deleted))  # children before their parents, as listeners expect

    def rebuild(self, fragment: XmlFragment, *, local: bool) -> None:
        """Index the document afresh from the CRDT, keeping the handles of elements still there."""
        previous = dict(self.elements)
        self.elements.clear()
        self.parents.clear()
        self.kids.clear()
        for xml in fragment.children:
            if isinstance(xml, XmlElement):
                self.add_subtree(xml, None, previous)
                break
        for gone in previous.keys() - self.elements.keys():
            self._events.append(ElementDeleted(gone, previous[gone].tag_name, local))

    def integrate(self, xml_events: list[Any], *, local: bool, into: Integration) -> None:
        """Bring remote changes (pycrdt deep events of the root fragment) into the index and events."""
        for xml_event in xml_events:
            if not isinstance(xml_event, XmlEvent):
                continue
            event: Any = xml_event  # pycrdt's XmlEvent sets its fields dynamically
            target = event.target
            if isinstance(target, XmlFragment):
                if any("insert" in d or "delete" in d for d in event.delta):
                    self.rebuild(target, local=local)
                    into.check_all = True
                continue
            if isinstance(target, XmlText):
                continue  # a text edit: document/_text.py turns those into TextChanged events
            # The id the element is indexed under: the old one if this very update rewrote or removed it.
            id_change = event.keys.get(ID_ATTRIBUTE)
            old_id = id_change.get("oldValue") if id_change is not None else None
            target_id = old_id if isinstance(old_id, str) and old_id in self.elements else id_of(target)
            if target_id is None or target_id not in self.elements:
                continue
            if id_change is not None:
                into.check_all = True
                if target_id == old_id and id_of(target) != old_id:
                    into.renamed.append((target, old_id))
            has_delete = False
            for delta in event.delta:
                for child in delta.get("insert", ()):
                    if not isinstance(child, XmlElement):
                        continue
                    before = len(into.imposters)
                    inserted = self.add_subtree(child, target_id, imposters=into.imposters)
                    if inserted is None or len(into.imposters) > before:
                        # No id, or an id already taken: only a whole-document check can place it.
                        into.check_all = True
                    if inserted is not None:
                        self._record(ElementInserted(inserted, local), into)
                has_delete = has_delete or "delete" in delta
            if has_delete:
                current = {id_of(c) for c in target.children if isinstance(c, XmlElement)}
                for gone in self.kids.get(target_id, set()) - current:
                    self.forget(gone, local=local)
            element = self.elements[target_id]
            for name, change in event.keys.items():
                if name == ID_ATTRIBUTE:
                    continue
                old, new = read_value(change.get("oldValue")), read_value(change.get("newValue"))
                self._record(AttributeChanged(element, name, old, new, local), into)

    def _record(self, event: DocumentEvent, into: Integration) -> None:
        self._events.append(event)
        into.changes.append(event)
