"""Moving an element: Yjs has no move for XML elements, so a move deletes the element and inserts a copy.

The copy keeps everything that makes the element itself: its ``$id`` and every descendant's, its
attributes, its text and marks (docs/adr/0016-move-and-undo.md). Three jobs live here:

- :func:`move_element`, the local move, checked as a batch of one before it writes (one transaction);
- :func:`index_moved`, for replicas that receive a move: the copy arrives carrying ids the index still
  gives to the deleted original, and takes them over;
- :func:`settle_copies`, for the repair: two participants moving one element at once leave two copies
  with one set of ids; the first in document order stays, the others go, the same on every replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pycrdt import XmlElement

from ..schema import rules
from ._batch import BatchPlan, MoveEdit
from ._build import PendingMarks
from ._events import DocumentEvent, ElementDeleted, ElementInserted
from ._layout import id_of
from ._pycrdt import Node, node_id, read_node
from ._text import apply_marks

if TYPE_CHECKING:
    from ._element import Element
    from ._index import Integration
    from ._replica import MeshDocument
    from ._validate import Violation

__all__ = ["RecentMoves", "index_moved", "move_element", "settle_copies"]


class RecentMoves:
    """The ids of the elements this replica saw move lately, oldest forgotten first.

    Only these are settled as concurrent moves: two identical elements with one id that never moved
    (a client inserting the same thing twice) keep the id repair's answer, a new id for the newcomer.
    Kept in memory: a server that restarts between two concurrent moves renames instead (both copies
    stay, nothing is lost).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: dict[str, None] = {}
        self._limit = limit

    def add(self, element_id: str) -> None:
        self._ids.pop(element_id, None)
        self._ids[element_id] = None
        if len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]

    def notice(self, events: list[DocumentEvent]) -> None:
        """Remember the elements that one remote update deleted and inserted again: moves."""
        deleted = {event.element_id for event in events if isinstance(event, ElementDeleted)}
        if deleted:
            for event in events:
                if isinstance(event, ElementInserted) and event.element.id in deleted:
                    self.add(event.element.id)

    def __contains__(self, element_id: object) -> bool:
        return element_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def move_element(element: Element, parent: Element, index: int | None) -> Element:
    """Move ``element`` with its subtree under ``parent`` at ``index``; handles stay valid."""
    doc = element._doc
    doc._check_writable()
    element._live()
    parent._live()
    with doc._api_write():
        # Checked as a batch of one checks it: the same rules, one implementation.
        planned = BatchPlan(doc).play(MoveEdit(element.id, parent.id, index))
        assert isinstance(planned, MoveEdit) and planned.position is not None
        at = planned.position
        handles = _subtree_handles(element)
        data = element.to_json(include_ids=True)
        doc._index.remove(element, doc._index.position(element.id))
        marks: PendingMarks = []
        built = doc._builder.subtree(data, parent_tag=parent.tag_name, position=at, marks=marks)
        moved = doc._index.insert_built(parent.id, at, built)
        _keep_handles(doc, handles)
        apply_marks(doc, marks)
        moved = doc._elements[moved.id]
        doc._moves.add(moved.id)
        doc._pending.append(ElementInserted(moved, local=True))
        return moved


def index_moved(doc: MeshDocument, integration: Integration) -> None:
    """Index the copies a remote move brought in, in place of originals the same update deleted.

    When pycrdt reports the copy's parent before the original's, the index takes the copy for an
    element that borrows a taken id and leaves it out; once the update is in and the original is gone,
    the id belongs to the copy.
    """
    still: list[XmlElement] = []
    for node in integration.imposters:
        element_id = id_of(node)
        parent = node.parent
        parent_id = id_of(parent) if isinstance(parent, XmlElement) else None
        if element_id is None or element_id in doc._elements or parent_id not in doc._elements:
            still.append(node)
            continue
        assert parent_id is not None and isinstance(parent, XmlElement)
        entry = doc._index.add_subtrees([node.integrated], parent_id).entries[0]
        if entry is None:
            still.append(node)
            continue
        top = doc._elements[entry]
        position = next(i for i, child in enumerate(parent.children) if child == node)
        doc._index.kids[parent_id][position] = element_id
        doc._moves.add(element_id)
        event = ElementInserted(top, local=False)
        doc._pending.append(event)
        integration.changes.append(event)
    integration.imposters[:] = still


def settle_copies(doc: MeshDocument, integration: Integration) -> list[Violation]:
    """Delete copies of one element that concurrent moves left: of the elements that carry the id of
    an element seen moving and are identical down to their last descendant, the first in document
    order stays.

    Elements that share an id but differ (a copy edited before the moves met, a foreign client's
    collision) are left to the id repair, which renames the newcomer: nothing anyone wrote is lost.
    Runs inside the repair's transaction.
    """
    from ._validate import Violation

    if not doc._moves:
        return []  # only copies of a moved element are settled; finding them reads the whole tree
    root = doc.root._xml
    occurrences: dict[str, list[tuple[tuple[int, ...], Node]]] = {}
    stack: list[tuple[tuple[int, ...], Node]] = [((), read_node(root, doc.ydoc))]
    while stack:
        path, node = stack.pop()
        element_id = node_id(node[1])
        if element_id is not None:
            occurrences.setdefault(element_id, []).append((path, node))
        stack.extend(((*path, raw), child) for raw, child in reversed(node[2]))
    doomed: list[tuple[int, ...]] = []
    settled: list[Violation] = []
    for element_id, found in occurrences.items():
        if len(found) < 2 or element_id not in doc._moves:
            continue
        (_, first), *rest = found
        shape = _shape(first)
        for path, node in rest:
            if any(path[: len(gone)] == gone for gone in doomed) or _shape(node) != shape:
                continue
            doomed.append(path)
            settled.append(
                Violation(
                    rules.missing_id(node[0]).code,
                    f"element {element_id!r} was moved by two participants at once: one copy stays",
                    element_id,
                )
            )
    if not doomed:
        return []
    removed = []
    for path in sorted(doomed, reverse=True):
        parent: Any = root
        for position in path[:-1]:
            parent = parent.children[position]
        removed.append(parent.children[path[-1]].integrated)
        del parent.children[path[-1]]
    doc._index.rebuild(doc._fragment, local=doc._origin is None)
    integration.imposters[:] = [
        node for node in integration.imposters if node.integrated not in removed and not _owns(doc, node)
    ]
    return settled


def _shape(node: Node) -> Any:
    """A subtree as a comparable value: attributes in name order, children and texts in order."""
    tag, attributes, children, texts = node
    return (
        tag,
        sorted(attributes, key=lambda item: item[0]),
        [_shape(child) for _, child in children],
        [[(value, sorted((marks or {}).items())) for value, marks in chunks] for _, chunks in texts],
    )


def _owns(doc: MeshDocument, node: XmlElement) -> bool:
    element_id = id_of(node)
    owner = doc._elements.get(element_id) if element_id is not None else None
    return owner is not None and owner._xml.integrated == node.integrated


def _subtree_handles(element: Element) -> dict[str, Element]:
    kids, elements = element._doc._index.kids, element._doc._elements
    handles: dict[str, Element] = {}
    stack = [element.id]
    while stack:
        current = stack.pop()
        handle = elements.get(current)
        if handle is not None:
            handles[current] = handle
        stack.extend(kid for kid in kids.get(current, ()) if kid is not None)
    return handles


def _keep_handles(doc: MeshDocument, handles: dict[str, Element]) -> None:
    """Point the handles callers hold at the copy, so a moved element's handle stays alive."""
    for element_id, handle in handles.items():
        fresh = doc._elements.get(element_id)
        if fresh is not None and fresh is not handle and fresh.tag_name == handle.tag_name:
            handle._node = fresh._node
            doc._elements[element_id] = handle
