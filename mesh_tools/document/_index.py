"""The id index: every element's handle, parent and children by id, kept in step with the CRDT.

Local writes index what they built themselves; remote updates arrive as :class:`XmlChange` records,
which :meth:`ElementIndex.integrate` turns into index changes and :mod:`document events <._events>`,
or, on the room server, as what the update guard read in them (:class:`UpdateEffects`), which
:meth:`ElementIndex.place_inserted`, :meth:`~ElementIndex.add_inserted` and
:meth:`~ElementIndex.integrate_effects` bring in without pycrdt's events.

Each element's children are kept as an ordered list mirroring the CRDT's (one entry per child, None for
a child that is not an indexed element), so a change applies Yjs's retain/insert/delete steps to it:
no edit costs work proportional to the document or to a parent's width.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import XmlElement, XmlFragment

from .._gc_pause import gc_paused
from ..schema import ID_ATTRIBUTE
from ._build import Built
from ._element import Element
from ._events import AttributeChanged, DocumentEvent, ElementDeleted, ElementInserted
from ._layout import ROOT_ID, id_of, read_value
from ._placements import covers
from ._pycrdt import (
    Node,
    Subtrees,
    XmlChange,
    attribute_values,
    child_element,
    child_id_at,
    child_ids,
    current_transaction,
    delete_item,
    insert_element_node,
    integrated_children,
    is_text,
    next_clock,
    node_id,
    remove_child,
    same_node,
    subtree_rows,
)
from ._update_effects import InsertedElement, UpdateEffects
from ._yjs_update import ItemId

if TYPE_CHECKING:
    from ._replica import MeshDocument

__all__ = ["ChildPlaces", "ElementIndex", "Integration", "Placed"]

#: Children lists at least this long get a :class:`ChildPlaces` (shorter ones are searched whole).
_MAPPED = 4096
#: How far from where it was last seen a child is looked for, widening, before the places are redone.
_WINDOWS = (16, 256)
#: Entries that placing an update's inserts may move in the index's children lists (each insert moves
#: the entries after it, ~1 ns each). Beyond this, one pass of pycrdt's events (which walks the parents'
#: children once, ~0.1 us each) costs less.
_MOVES_PER_UPDATE = 2**23


@dataclass(slots=True)
class Integration:
    """What a batch of remote XmlEvents changed: the events to check, or that only a full check will do.

    ``renamed`` lets the repair undo what no later edit may keep: an element whose ``$id`` was rewritten
    or removed gets its old id back. ``imposters`` are inserted elements carrying an id some element
    already has; only a whole-document check places them (the repair renames the later of the two in
    document order, the same on every replica).
    """

    changes: list[DocumentEvent] = field(default_factory=list)
    check_all: bool = False
    #: (element, the id it had) for every ``$id`` rewritten or removed by the update.
    renamed: list[tuple[XmlElement, str]] = field(default_factory=list)
    #: Inserted elements whose id another element already had; left out of the index.
    imposters: list[XmlElement] = field(default_factory=list)


#: Inserted elements entered among their parents' children: (parent id, position, the insert).
Placed = list[tuple[str, int, InsertedElement]]


class ElementIndex:
    """Element handles by id, with each element's parent and ordered child ids.

    ``elements`` is a plain dict that stays the same object for the document's life: readers look
    handles up in it directly (a dict subclass or a method call would add ~30% to every lookup).
    ``kids`` holds, per element, one entry per CRDT child in order: its id, or None for a child that is
    not an indexed element (text, or an element without a usable id); an element that never had a child
    has no list (read ``kids.get(id, ())``): most elements of a document are leaves, and an empty list
    and its entry cost more than the element's handle. Index changes append their
    events to ``events`` (the document's pending events).
    """

    __slots__ = ("_doc", "_events", "_items", "_places", "elements", "kids", "parents")

    def __init__(self, doc: MeshDocument, events: list[DocumentEvent]) -> None:
        self._doc = doc
        self._events = events
        self.elements: dict[str, Element] = {}
        self.parents: dict[str, str | None] = {}
        self.kids: dict[str, list[str | None]] = {}
        #: Where the children of wide parents were last seen, for :meth:`position`.
        self._places: dict[str, ChildPlaces] = {}
        #: Element id -> (its integrated element as written, its item id), for the elements this replica
        #: inserted into wide parents, which :meth:`remove` deletes by item id instead of by position.
        self._items: dict[str, tuple[Any, ItemId]] = {}

    def discard(self) -> None:
        """Forget every element and the document (which is being discarded): no cycle is left.

        Idempotent: a server may unload a document while an update to it is still being applied, and
        the apply's end discards it once more.
        """
        self.elements.clear()
        self.parents.clear()
        self.kids.clear()
        self._places.clear()
        self._items.clear()
        if hasattr(self, "_doc"):
            del self._doc

    def __iter__(self) -> Iterator[str]:
        """The ids of every indexed element."""
        return iter(self.elements)

    def insert_built(self, parent_id: str, at: int, built: Built) -> Element:
        """Write a checked subtree at child position ``at`` of ``parent_id`` and index it."""
        return self.insert_built_run(parent_id, at, [built])[0]

    def insert_built_run(self, parent_id: str, at: int, run: Sequence[Built]) -> list[Element]:
        """Write checked subtrees as consecutive children of ``parent_id`` from child position ``at``,
        index them, and return them in order."""
        parent = self.elements[parent_id]._xml.integrated
        # In a wide parent, yrs's walk to a position makes a delete by position cost ~0.1-1 us per
        # sibling before it; the item ids of what goes there let :meth:`remove` delete it without the
        # walk. A bulk build into a narrow parent (a document created from JSON) records none.
        wide = len(self.kids.get(parent_id, ())) >= _MAPPED
        # Last first, each at ``at``: yrs finds a position by walking the children, so appending n one
        # by one costs O(n^2); and the ordered ids take the whole run in one splice, where inserting
        # each at ``at`` would move the ids after it n times.
        elements = [self._write(parent, at, built, parent_id, wide) for built in reversed(run)]
        elements.reverse()
        self.kids.setdefault(parent_id, [])[at:at] = [element.id for element in elements]
        return elements

    def insert_text(self, element_id: str, at: int) -> None:
        """Record a text child this replica just inserted at child position ``at`` of ``element_id``."""
        self.kids.setdefault(element_id, []).insert(at, None)

    def _write(self, parent: Any, at: int, built: Built, parent_id: str, record: bool) -> Element:
        """Write ``built`` into the integrated element ``parent``; the handles wrap their nodes on use.
        ``record``: note the top element's item id (its client's next clock: its item is written first)."""
        top: Element | None = None
        ydoc = self._doc.ydoc
        txn = current_transaction(ydoc)
        item = (ydoc.client_id, next_clock(ydoc)) if record else None
        stack = [(parent, at, built, parent_id)]
        while stack:
            into, position, (element_id, tag, attributes, text, children, _, _), into_id = stack.pop()
            # The text, when the type declares one, is created with the element, so every replica's
            # edits land in this one Yjs text.
            node = insert_element_node(into, txn, position, tag, attributes, text)
            element = self.elements[element_id] = Element(self._doc, node, element_id, tag)
            if top is None and item is not None:
                self._items[element_id] = (node, item)
            top = top or element
            self.parents[element_id] = into_id
            if text is not None:
                self.kids[element_id] = [None]
            elif children:
                self.kids[element_id] = [child.id for child in children]
                # Popped last first, each written at 0: yrs finds a position by walking the children,
                # so appending n children one by one (as pycrdt's nested prelims do) costs O(n^2).
                stack.extend((node, 0, child, element_id) for child in children)
        assert top is not None
        return top

    def add_subtrees(
        self,
        tops: list[Any],
        parent_id: str | None,
        previous: Mapping[str, Element] | None = None,
        imposters: list[XmlElement] | None = None,
    ) -> Subtrees:
        """Index subtrees read from the CRDT (integrated children of ``parent_id``), reusing the handles
        in ``previous`` where they still fit; returns what was read (``entries``: each top's entry among
        its parent's children).

        Elements without a string id are skipped with their subtrees (entry None): only a raw update can
        create them; validate() reports them and repair() mends them. With ``imposters`` (a remote
        insert), an element whose id is indexed already is skipped too and listed there, so the element
        that owns the id keeps its handle.
        """
        with gc_paused():  # a load allocates an Element and a list per element, none in a cycle
            found = subtree_rows(
                tops, self._doc.ydoc, parent_id, None if imposters is None else self.elements
            )
            if imposters is not None:
                imposters.extend(found.imposters)
            doc, elements, parents, kids = self._doc, self.elements, self.parents, self.kids
            handles = previous or elements
            for node, node_id, tag, parent, entries in found.rows:
                element = handles.get(node_id)
                if element is not None and element.tag_name == tag:
                    element._node = node  # keep handles that callers hold alive across a re-index
                else:
                    element = Element(doc, node, node_id, tag)
                elements[node_id] = element
                parents[node_id] = parent
                if entries:
                    kids[node_id] = entries
        return found

    def position(self, element_id: str) -> int:
        """The element's position among all its parent's CRDT children."""
        parent_id = self.parents[element_id]
        assert parent_id is not None, "the root has no position"
        kids = self.kids[parent_id]
        if len(kids) < _MAPPED:
            return kids.index(element_id)
        places = self._places.get(parent_id)
        if places is None:
            places = self._places[parent_id] = ChildPlaces(kids)
        return places.find(element_id, kids)

    def integrated(self, element_id: str) -> Any:
        """The integrated element of an indexed element, found at its position in its parent."""
        parent_id = self.parents[element_id]
        assert parent_id is not None, "the root's node is always known"
        parent = self.elements[parent_id]._xml.integrated
        return child_element(parent, self._doc.ydoc, self.position(element_id), element_id)

    def place_inserted(self, inserted: list[InsertedElement], deleted: list[str]) -> Placed | None:
        """Enter the elements an update is about to insert among their parents' children, before it is
        applied; None (and nothing entered) unless each lands where its origins put it for certain.

        An element inserted between two siblings lands between them, after or before anything else
        inserted there concurrently; where the two are still next to each other in the index (nothing
        but deleted items between them) that is one place. Placed in the update's order, each in the
        index as the ones before it left it, which is the order Yjs integrates them in, or one it
        would end the same from. Elements inside one the update deletes are left to the events, which
        report no insert for them; so are inserts that would move too many entries (_MOVES_PER_UPDATE).
        """
        doomed = set(deleted)
        placed: Placed = []
        arriving: set[str] = set()
        moves = 0
        for insert in inserted:
            at = self._slot(insert, doomed, arriving)
            if at is not None:
                moves += len(self.kids.get(insert.parent, ())) - at
            if at is None or moves > _MOVES_PER_UPDATE:
                self.unplace(placed)
                return None
            kids = self.kids.setdefault(insert.parent, [])
            element_id = node_id(insert.node[1])
            assert element_id is not None  # the update guard leaves an element without one to the events
            kids.insert(at, element_id)
            places = self._places.get(insert.parent)
            if places is not None:
                places.saw(element_id, at)
            self.parents[element_id] = insert.parent
            placed.append((insert.parent, at, insert))
        return placed

    def _slot(self, insert: InsertedElement, doomed: set[str], arriving: set[str]) -> int | None:
        """Where ``insert`` lands among its parent's entries, if that is certain."""
        parent: str | None = insert.parent
        while parent is not None:
            if parent in doomed or parent not in self.elements:
                return None
            parent = self.parents.get(parent)
        for element_id in _subtree_ids(insert.node):
            if element_id in self.elements or element_id in arriving:
                return None  # an id taken (a move, or concurrent writers): the events' repair settles it
            arriving.add(element_id)
        kids = self.kids.get(insert.parent, [])
        if insert.gone == "left":
            # Right before ``right`` unless a concurrent insert came between: settle() checks.
            return self._place_of(insert.right, insert.parent, len(kids))
        at = self._place_of(insert.left, insert.parent, -1)
        if at is None:
            return None
        at += 1
        if insert.gone == "right":
            return at  # right after ``left`` unless a concurrent insert came first: settle() checks
        right = kids[at] if at < len(kids) else None
        if right != insert.right or (right is None and at < len(kids)):
            return None  # something lies between its origins now (or one of them is a text node)
        return at

    def _place_of(self, sibling: str | None, parent_id: str, edge: int) -> int | None:
        """The position of ``sibling`` among the children of ``parent_id``; ``edge`` for None; None if
        it is not one of them."""
        if sibling is None:
            return edge
        return self.position(sibling) if self.parents.get(sibling) == parent_id else None

    def settle(self, placed: Placed) -> None:
        """Once their update is applied, check where the inserts placed beside a sibling the index cannot
        name (``InsertedElement.gone``) landed; where one is not where it was placed (another writer
        inserted at the same place), take its parent's children afresh from the CRDT: one walk of them,
        only then."""
        ydoc = self._doc.ydoc
        for parent_id, _, insert in placed:
            element_id = node_id(insert.node[1])
            if insert.gone is None or element_id not in self.elements or parent_id not in self.elements:
                continue
            parent = self.elements[parent_id]._xml.integrated
            if child_id_at(parent, ydoc, self.position(element_id)) != element_id:
                # An id stands for its element only where the index has it in this parent (an
                # imposter holding the same id elsewhere is unindexed, as a load leaves it).
                self.kids[parent_id] = [
                    kid if kid is not None and self.parents.get(kid) == parent_id else None
                    for kid in child_ids(parent, ydoc)
                ]
                self._places.pop(parent_id, None)

    def unplace(self, placed: Placed) -> None:
        """Take out again what :meth:`place_inserted` entered."""
        for parent_id, at, insert in reversed(placed):
            del self.kids[parent_id][at]
            self.parents.pop(node_id(insert.node[1]) or "", None)

    def add_inserted(self, placed: Placed, *, local: bool, into: Integration) -> dict[str, Node]:
        """Index the subtrees placed by :meth:`place_inserted` once their update is applied, with an
        ElementInserted each; returns each one's node for the schema check. Their handles find their
        integrated elements when first read."""
        nodes: dict[str, Node] = {}
        for parent_id, _, insert in placed:
            stack: list[tuple[Node, str]] = [(insert.node, parent_id)]
            while stack:
                node, node_parent = stack.pop()
                tag, attributes, elements, texts = node
                element_id = node_id(attributes)
                assert element_id is not None
                self.elements[element_id] = Element(self._doc, None, element_id, tag)
                self.parents[element_id] = node_parent
                if elements or texts:
                    entries: list[str | None] = [None] * (len(elements) + len(texts))
                    for raw, child in elements:
                        entries[raw] = node_id(child[1])
                        stack.append((child, element_id))
                    self.kids[element_id] = entries
            top = node_id(insert.node[1])
            assert top is not None
            nodes[top] = insert.node
            self._record(ElementInserted(self.elements[top], local), into)
        return nodes

    def remove(self, element: Element, position: int) -> None:
        """Delete a local element at ``position`` among its parent's children, from the CRDT and the
        index, in the open transaction.

        By its item id where this replica wrote it into a wide parent and the handle still holds what it
        wrote (a rebuild or a remote move gives the handle another node: then the id may name an item
        deleted since), else by position.
        """
        recorded = self._items.get(element.id)
        if recorded is not None and same_node(element._node, recorded[0]):
            delete_item(self._doc.ydoc, recorded[1])
        else:
            parent_id = self.parents[element.id]
            assert parent_id is not None, "the root cannot be deleted"
            parent = self.elements[parent_id]._xml.integrated
            remove_child(parent, current_transaction(self._doc.ydoc), position)
        self.detach(element.id, position, local=True)

    def detach(self, element_id: str, position: int, *, local: bool) -> None:
        """Drop the element at ``position`` of its parent, and its subtree, with one ElementDeleted each."""
        parent_id = self.parents[element_id]
        if parent_id is not None:
            del self.kids[parent_id][position]
        self._drop(element_id, local)

    def _drop(self, element_id: str, local: bool) -> None:
        deleted: list[ElementDeleted] = []
        stack: list[str | None] = [element_id]
        while stack:
            gone = stack.pop()
            element = None if gone is None else self.elements.pop(gone, None)
            if gone is None or element is None:
                continue
            self.parents.pop(gone, None)
            self._places.pop(gone, None)
            self._items.pop(gone, None)
            stack.extend(self.kids.pop(gone, ()))
            deleted.append(ElementDeleted(gone, element.tag_name, local))
        self._events.extend(reversed(deleted))  # children before their parents, as listeners expect

    def rebuild(self, fragment: XmlFragment, *, local: bool) -> None:
        """Index the document afresh from the CRDT, keeping the handles of elements still there."""
        previous = dict(self.elements)
        self.elements.clear()
        self.parents.clear()
        self.kids.clear()
        self._places.clear()
        self._items.clear()
        for xml in fragment.children:
            if isinstance(xml, XmlElement):
                self.add_subtrees([xml.integrated], None, previous)
                break
        for gone in previous.keys() - self.elements.keys():
            self._events.append(ElementDeleted(gone, previous[gone].tag_name, local))

    def integrate_load(self, fragment: XmlFragment, *, local: bool, into: Integration) -> None:
        """Index what updates brought into a document that held only its root, in one pass over the tree.

        Records in ``into`` what the repair needs of those updates' deep events: a rewritten root id
        and the imposters among the root's children (an id the root holds). Sets ``into.check_all``
        when the walk saw the layout off: the root's id rewritten, anything beside the root (then the
        index is rebuilt), an element without a string id or with one another element holds, a text
        where the element's type declares none or a second one, or elements nested deeper than the
        document's limits. A load that trusts its updates
        (``MeshDocument.load_stored``) checks the whole document only then.
        """
        ydoc = self._doc.ydoc
        root = self.elements[ROOT_ID]._xml
        if id_of(root) != ROOT_ID:
            into.renamed.append((root, ROOT_ID))
            into.check_all = True
        tops = integrated_children(fragment, ydoc)
        if len(tops) != 1 or tops[0] != root.integrated:
            self.rebuild(fragment, local=local)
            into.check_all = True
            return
        found = self.add_subtrees(integrated_children(root, ydoc), ROOT_ID, imposters=into.imposters)
        if found.entries:
            self.kids[ROOT_ID] = found.entries
        doc = self._doc
        types = doc._builder.element_types
        unindexed = found.unindexed
        if None in found.entries:
            unindexed = [*unindexed, (doc.schema.root_tag_name, found.entries.count(None))]
        if (
            found.imposters
            or found.unidentified
            or 1 + found.depth > doc.limits.max_depth  # the root is level 1, its children level 2
            or any(
                count > 1 or (kind := types.get(tag)) is None or kind.text_property is None
                for tag, count in unindexed
            )
        ):
            into.check_all = True

    def integrate(self, changes: list[XmlChange], *, local: bool, into: Integration) -> None:
        """Bring remote changes (the deep changes of the root fragment) into the index and events."""
        for change in changes:
            target = change.target
            if isinstance(target, XmlFragment):
                if change.delta:
                    self.rebuild(target, local=local)
                    into.check_all = True
                continue
            if not isinstance(target, XmlElement):
                continue  # a text edit: document/_text.py turns those into TextChanged events
            # The id the element is indexed under: the old one if this very update rewrote or removed it.
            id_change = change.keys.get(ID_ATTRIBUTE)
            old_id = id_change.get("oldValue") if id_change is not None else None
            target_id = old_id if isinstance(old_id, str) and old_id in self.elements else id_of(target)
            if target_id is None or target_id not in self.elements:
                continue
            if id_change is not None:
                into.check_all = True
                if target_id == old_id and id_of(target) != old_id:
                    into.renamed.append((target, old_id))
            if change.delta:
                self._apply_delta(target_id, change.delta, local, into)
            element = self.elements[target_id]
            for name, keys in change.keys.items():
                if name == ID_ATTRIBUTE:
                    continue
                old, new = read_value(keys.get("oldValue")), read_value(keys.get("newValue"))
                self._record(AttributeChanged(element, name, old, new, local), into)

    def integrate_effects(
        self,
        effects: UpdateEffects,
        touched: list[tuple[Element, str, list[ItemId], Any]],
        deleted_now: dict[int, list[tuple[int, int]]],
        *,
        local: bool,
        into: Integration,
    ) -> None:
        """Bring an applied update's deletes and attribute changes into the index and events, from
        what the update guard read in it; ``touched``: (element, attribute, the items the update wrote
        there, its raw value before) for the attributes it reached; ``deleted_now``: its transaction's
        delete set."""
        for element_id in effects.deleted:
            if element_id in self.elements:
                self.detach(element_id, self.position(element_id), local=local)
        alive = [entry for entry in touched if entry[0].is_alive]
        after = attribute_values(
            self._doc.ydoc, [(element._xml.integrated, name) for element, name, _, _ in alive]
        )
        for (element, name, writers, old), new in zip(alive, after, strict=True):
            # As Yjs reports it: a change, or a write that won (even of the same value: of an
            # attribute's entries only the winner is left undeleted); a concurrent write that lost, or a
            # delete the replica had applied already, is no change.
            if new != old or any(not covers(deleted_now, writer) for writer in writers):
                self._record(AttributeChanged(element, name, read_value(old), read_value(new), local), into)

    def _apply_delta(
        self, parent_id: str, delta: list[dict[str, Any]], local: bool, into: Integration
    ) -> None:
        """Apply Yjs's steps over a parent's children (positions as before the change) to its entries."""
        entries = self.kids.setdefault(parent_id, [])
        position = 0
        for step in delta:
            if "retain" in step:
                position += step["retain"]
            elif "delete" in step:
                end = position + step["delete"]
                gone = entries[position:end]
                del entries[position:end]
                for child_id in gone:
                    if child_id is not None:
                        self._drop(child_id, local)
            else:
                inserted = step.get("insert", [])
                before = len(into.imposters)
                ids = self.add_subtrees(inserted, parent_id, imposters=into.imposters).entries
                if len(into.imposters) > before:
                    into.check_all = True  # an id already taken: only a whole-document check can place it
                for child, child_id in zip(inserted, ids, strict=True):
                    if child_id is not None:
                        self._record(ElementInserted(self.elements[child_id], local), into)
                    elif not is_text(child):
                        # No id (or a taken one): only a whole-document check can place it.
                        into.check_all = True
                entries[position:position] = ids
                position += len(ids)

    def _record(self, event: DocumentEvent, into: Integration) -> None:
        self._events.append(event)
        into.changes.append(event)


class ChildPlaces:
    """Where each child of a wide parent was when last seen, to find a child's position without
    searching the whole list: a search by value reads every entry's string, one cache miss each, which
    cost ~3 ms in a list of 100k children.

    The list changes under it (inserts and deletes from anywhere), but a child moves only by as many
    places as entries were inserted or removed before it since; so it is looked for in windows
    around where it was seen, and everything is seen afresh once a child has strayed beyond them (a
    pass over the list, after at least that many edits). The answer is always exact: the windows are
    searched, never trusted.
    """

    __slots__ = ("_seen",)

    def __init__(self, kids: list[str | None]) -> None:
        self._seen = _places_of(kids)

    def saw(self, element_id: str, at: int) -> None:
        """Note where a child was just put (the next search for it starts there)."""
        self._seen[element_id] = at

    def find(self, element_id: str, kids: list[str | None]) -> int:
        """The position of ``element_id`` in ``kids`` (it must be there)."""
        seen = self._seen.get(element_id)
        if seen is None:
            if len(self._seen) > 2 * len(kids):  # mostly children gone since
                self._seen = _places_of(kids)
                return self._seen[element_id]
            # Arrived since the places were taken: one search of the list, then it is known too.
            seen = self._seen[element_id] = kids.index(element_id)
            return seen
        for width in _WINDOWS:
            try:
                return kids.index(element_id, max(seen - width, 0), seen + width + 1)
            except ValueError:
                continue
        self._seen = _places_of(kids)
        return self._seen[element_id]


def _subtree_ids(node: Node) -> list[str]:
    ids = []
    stack = [node]
    while stack:
        _, attributes, elements, _ = stack.pop()
        element_id = node_id(attributes)
        if element_id is not None:
            ids.append(element_id)
        stack.extend(child for _, child in elements)
    return ids


def _places_of(kids: list[str | None]) -> dict[str | None, int]:
    return {kid: at for at, kid in enumerate(kids)}
