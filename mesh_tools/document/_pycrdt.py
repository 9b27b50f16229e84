"""Every use of pycrdt's private API, in one place, each with the reason the public API does not do.

pycrdt's public views (``XmlElement.children``, ``.attributes``) open a transaction and build a Python
wrapper per call; the whole-tree reads here go through the integrated (Rust) objects behind them
instead, which made reading a 10k-element document ~8x faster. Checked against pycrdt 0.14.13-0.14.x
(pyproject.toml pins ``pycrdt>=0.14.13,<0.15``); the tests in tests/document/ exercise every function
here, so a pycrdt release that moves one of these names fails them rather than the users.

The private names used: ``pycrdt._pycrdt.XmlElement`` and ``pycrdt._pycrdt.XmlText`` (the integrated element
and text classes), the ``integrated`` attribute of XmlElement/XmlFragment/XmlText, its ``tag()``,
``attributes(txn)``, ``attribute(txn, name)``, ``children(txn)``, ``get(txn, index)``, ``len(txn)``,
``insert_element_prelim(txn, index, tag)``, ``insert_attribute(txn, name, value)``, ``insert_str(txn, index,
text)``, ``remove_range(txn, index, length)`` and ``observe_deep(callback)`` methods, ``Doc._txn`` (the pycrdt
transaction a document is in), ``Doc._doc`` and ``Doc._allow_multithreading`` (the Rust document, and whether
pycrdt locks its transactions), the integrated text's ``parent()``, ``diff(txn)``, ``len(txn)``,
``remove_range(txn, ...)``, ``insert(txn, ...)`` and ``format(txn, ...)``, ``Transaction._txn`` (the Rust
transaction those methods take), the Rust ``XmlEvent``'s ``transaction``, ``target``, ``children_changed``,
``delta`` and ``keys`` fields, ``Doc._read_transaction`` and ``Doc._exceptions`` (how pycrdt's own event
adapter lends the committing transaction to callbacks and reports their errors), and
``pycrdt._base.process_event`` (wraps Rust values in pycrdt's Python types).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from pycrdt import Doc, Encoder, XmlElement, XmlFragment, XmlText
from pycrdt._base import process_event
from pycrdt._pycrdt import XmlElement as _IntegratedElement
from pycrdt._pycrdt import XmlEvent as _IntegratedXmlEvent
from pycrdt._pycrdt import XmlText as _IntegratedText

from ..errors import ElementNotFoundError
from ..schema import ID_ATTRIBUTE
from ._layout import read_value
from ._marks import MARKS_KEY, read_chunks
from ._yjs_update import ItemId, decode_state_vector

__all__ = [
    "DeepObserver",
    "JsonLayout",
    "Node",
    "SubtreeRow",
    "Subtrees",
    "XmlChange",
    "child_count",
    "child_element",
    "current_transaction",
    "delete_item",
    "format_text_node",
    "fragment_nodes",
    "insert_element_node",
    "integrated_children",
    "is_integrated",
    "is_text",
    "next_clock",
    "node_id",
    "read_node",
    "remove_child",
    "same_node",
    "splice_text_node",
    "state_vector",
    "subtree_json",
    "subtree_rows",
    "text_holder_id",
    "text_of",
    "text_size",
    "wrap_element",
]

#: A text child as its ``diff()`` chunks: (characters or an embedded object, formatting attributes).
TextChunks: TypeAlias = list[tuple[Any, dict[str, Any] | None]]

# (tag, attributes, [(position among all children, child)], [(position among all children, text)]) as
# read from the CRDT in one go
Node: TypeAlias = tuple[str, list[tuple[str, Any]], list[tuple[int, "Node"]], list[tuple[int, TextChunks]]]

#: How an element's JSON body is laid out: its attributes in schema order, its child property, and its
#: text property.
JsonLayout: TypeAlias = tuple[tuple[str, ...], str | None, str | None]

_MISSING = object()


class Subscription(Protocol):
    """What the integrated ``observe_deep`` returns."""

    def drop(self) -> None: ...


@dataclass(slots=True)
class XmlChange:
    """What one transaction changed in one element (or the fragment), read from a Rust XmlEvent.

    ``delta`` is Yjs's retain/insert/delete steps over the target's children (empty when no child
    changed), or over its characters when the target is an XmlText; ``keys`` maps each changed
    attribute to its ``oldValue``/``newValue``. The children an element's step inserts are left as
    the integrated (Rust) objects: loading a document inserts thousands at once, and a wrapper each
    would cost more than indexing them (:func:`subtree_rows` takes them as they are, :func:`is_text`
    tells a text from an element).
    """

    target: Any
    delta: list[dict[str, Any]]
    keys: dict[str, dict[str, Any]]


class DeepObserver:
    """The deep changes of a fragment as :class:`XmlChange` records, at the cost of one Rust subscription.

    pycrdt's public ``observe_deep()`` inspects the callback's signature on every call (~50 µs), and its
    adapter wraps every field of every event in Python objects, ``path`` included; this subscribes once
    and wraps only the target, the attribute changes and (when children or characters changed) the
    delta. Note that
    pycrdt's Rust side still computes every field eagerly, ``path`` and ``delta`` walking the target's
    siblings and children: that cost (~0.1 µs per sibling) is what remains proportional to a parent's width.
    """

    def __init__(
        self, fragment: XmlFragment, ydoc: Doc[Any], callback: Callable[[list[XmlChange]], None]
    ) -> None:
        self._fragment = fragment
        self._ydoc = ydoc
        self._callback = callback

    def subscribe(self) -> Subscription:
        subscription: Subscription = self._fragment.integrated.observe_deep(self._on_events)
        return subscription

    def close(self) -> None:
        """Let go of the callback (it refers back to the document that owns this observer)."""
        self._callback = _ignore_changes

    def _on_events(self, events: list[Any]) -> None:
        doc: Any = self._ydoc
        # As pycrdt's adapter does: the callback reads through the transaction being committed.
        with doc._read_transaction(events[0].transaction):
            changes: list[XmlChange] = []
            for event in events:
                if type(event) is not _IntegratedXmlEvent:
                    continue  # a Text or Map a raw update slipped in: the layout has none
                raw: Any = event  # the Rust event's fields are not in pycrdt's stubs
                target = raw.target
                if type(target) is _IntegratedText:
                    # An XmlText's event leaves children_changed unset; its delta is the text edit.
                    delta = process_event(raw.delta, doc)
                else:
                    delta = raw.delta if raw.children_changed else []
                changes.append(XmlChange(process_event(target, doc), delta, process_event(raw.keys, doc)))
            try:
                self._callback(changes)
            except Exception as exc:
                doc._exceptions.append(exc)


#: What pycrdt's constructor gives every shared type for observers; an :class:`ElementNode` makes it on use.
_OBSERVER_STATE = frozenset({"_subscriptions", "_send_streams", "_event_subscription"})


class ElementNode(XmlElement):
    """An integrated XmlElement as light as a handle can be: the index holds one per element.

    pycrdt's constructor gives every instance observer bookkeeping (two dicts, two sets, a list and its
    type name: ~0.8 KB, most of a loaded document's Python memory) that an index handle rarely uses;
    here it is made on first use instead.
    """

    _type_name = "xmlelement"

    def __init__(self, ydoc: Doc[Any], integrated: Any) -> None:  # pycrdt's own __init__ is skipped
        self._doc = ydoc
        self._prelim = None
        self._integrated = integrated

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set yet.
        if name not in _OBSERVER_STATE:
            raise AttributeError(name)
        self._subscriptions = []
        self._send_streams = {False: set(), True: set()}
        self._event_subscription = {}
        return getattr(self, name)


def _ignore_changes(changes: list[XmlChange]) -> None:
    """The callback of a closed observer."""


#: (integrated element, id, tag, parent id, child entries: each child's id, None for a child without a
#: string id)
SubtreeRow: TypeAlias = tuple[Any, str, str, str | None, list[str | None]]
#: The child entries of a leaf: shared, never stored (the index keeps no list for a leaf).
_NO_ENTRIES: list[str | None] = []


def wrap_element(inner: Any, ydoc: Doc[Any]) -> XmlElement:
    """The pycrdt element for an integrated one (from :func:`subtree_rows` or an :class:`XmlChange`)."""
    return ElementNode(ydoc, inner)


@dataclass(slots=True)
class Subtrees:
    """What :func:`subtree_rows` read: the tops' entries, every element to index, the imposters, and
    what a load must know to trust the layout without checking it whole."""

    #: One per top: its id, or None (not an element, no string id, or an imposter).
    entries: list[str | None] = field(default_factory=list)
    #: Every element to index, each before its children.
    rows: list[SubtreeRow] = field(default_factory=list)
    #: Elements left out because their id was taken (with their subtrees).
    imposters: list[XmlElement] = field(default_factory=list)
    #: Elements left out because their ``$id`` is not a string (with their subtrees).
    unidentified: int = 0
    #: How many levels the indexed elements span, the tops' level counted as 1.
    depth: int = 0
    #: (tag, how many) for each indexed element with children that are not indexed: its text, or
    #: anything else (the layout allows one text, in an element whose type declares it).
    unindexed: list[tuple[str, int]] = field(default_factory=list)


def child_element(parent: Any, ydoc: Doc[Any], position: int, element_id: str) -> Any:
    """The integrated child element of ``parent`` that holds ``element_id``, which the index puts at
    ``position`` among its children.

    yrs reaches a position by walking the children before it, so this costs in proportion to it; it
    is paid only for a handle read after a remote insert that was indexed from the update
    (docs/adr/0018-remote-changes-without-deep-events.md). A replica written beside the API may have
    an index behind the CRDT: then the children are searched.
    """
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        if position < parent.len(inner):
            child = parent.get(inner, position)
            if type(child) is _IntegratedElement and child.attribute(inner, ID_ATTRIBUTE) == element_id:
                return child
        for child in parent.children(inner):
            if type(child) is _IntegratedElement and child.attribute(inner, ID_ATTRIBUTE) == element_id:
                return child
    raise ElementNotFoundError(
        f"element {element_id!r} is in the index but not in the document",
        hint="the document was written beside its API; reopen it",
    )


def attribute_values(ydoc: Doc[Any], reads: list[tuple[Any, str]]) -> list[Any]:
    """The raw value of each (integrated element, attribute name), None where unset: read in one
    transaction, where the public view opens one per read (~10 us each; a burst reads hundreds)."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        return [element.attribute(inner, name) for element, name in reads]


def child_id_at(parent: Any, ydoc: Doc[Any], position: int) -> str | None:
    """The id of ``parent``'s integrated child at ``position`` (a walk of the children before it); None
    for a text node, an element without a string id, or past the end."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        return _child_id(parent.get(inner, position), inner) if position < parent.len(inner) else None


def child_ids(parent: Any, ydoc: Doc[Any]) -> list[str | None]:
    """The id of each of ``parent``'s integrated children, as :func:`child_id_at` reads one."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        return [_child_id(child, inner) for child in parent.children(inner)]


def _child_id(child: Any, txn: Any) -> str | None:
    if type(child) is not _IntegratedElement:
        return None
    child_id = child.attribute(txn, ID_ATTRIBUTE)
    return child_id if type(child_id) is str else None


def is_integrated(node: Any) -> bool:
    """Whether a handle's node is an integrated element (not yet wrapped in a pycrdt one).

    A type test, not ``isinstance(node, XmlElement)``: pycrdt's types are ABCs, whose instance checks
    run Python code (a third of a microsecond, on every local write).
    """
    return type(node) is _IntegratedElement


def current_transaction(ydoc: Doc[Any]) -> Any:
    """The Rust transaction of the pycrdt transaction ``ydoc`` is in (there must be one).

    The reads and writes below take it, so a local insert opens no nested ``transaction()`` (pycrdt's
    wrapper costs about a microsecond per entry, twice what counting the children does).
    """
    txn: Any = ydoc._txn
    assert txn is not None and txn._txn is not None, "only inside a transaction"
    return txn._txn


def state_vector(ydoc: Doc[Any]) -> bytes:
    """``ydoc.get_state()``: the state vector, read in the open transaction or in a bare Rust one.

    Every tool result carries a version holding it; pycrdt's transaction wrapper around the read cost
    twice the read. A transaction that changes nothing calls no observer, so only the lock a
    multithreaded Doc takes is left to pycrdt.
    """
    doc: Any = ydoc
    if doc._txn is not None:
        state: bytes = doc._doc.get_state(doc._txn._txn)
        return state
    if doc._allow_multithreading:
        return ydoc.get_state()
    txn = doc._doc.create_transaction()
    try:
        state = doc._doc.get_state(txn)
        txn.commit()
    finally:
        txn.drop()
    return state


def child_count(node: Any, txn: Any) -> int:
    """How many children (elements and texts) an integrated element has in the CRDT.

    Read from the CRDT, not the index: a replica may also be written beside the API (a pycrdt
    Provider syncing its ``ydoc``), and a position must count what is there.
    """
    count: int = node.len(txn)
    return count


def insert_element_node(
    parent: Any, txn: Any, position: int, tag: str, attributes: dict[str, Any], text: str | None
) -> Any:
    """Insert an element (with ``text`` as its one text child, unless None) at child ``position`` of an
    integrated element, in the transaction ``txn`` (see :func:`current_transaction`); returns the
    integrated element.

    What ``parent.children.insert(position, XmlElement(tag, attributes, [XmlText(text)]))`` writes,
    without the two wrappers, the child count it reads again and the transaction per attribute it costs:
    a local insert's CRDT write took twice as long through the public API.
    """
    node = parent.insert_element_prelim(txn, position, tag)
    for name, value in attributes.items():
        node.insert_attribute(txn, name, value)
    if text is not None:
        node.insert_str(txn, 0, text)
    return node


def remove_child(parent: Any, txn: Any, position: int) -> None:
    """Delete the child at ``position`` of an integrated element, in the transaction ``txn`` (see
    :func:`current_transaction`).

    What ``del parent.children[position]`` does, without the view and the nested transaction it opens
    on every delete. yrs reaches ``position`` by walking the children before it, so this costs in
    proportion to it; :func:`delete_item` does not, where the element's item id is known.
    """
    parent.remove_range(txn, position, 1)


def next_clock(ydoc: Doc[Any]) -> int:
    """The clock of the next item this replica writes, read in the open transaction: an element about
    to be inserted gets the item id (its client id, this clock).

    pycrdt 0.14 tells no shared type's item id, so this is the only way to learn one short of decoding
    an update; it costs a read of the state vector (a few microseconds).
    """
    doc: Any = ydoc
    return decode_state_vector(doc._doc.get_state(current_transaction(ydoc))).get(ydoc.client_id, 0)


def delete_item(ydoc: Doc[Any], item: ItemId) -> None:
    """Delete the element with this item id (and its subtree) in the open transaction.

    As an update holding only that delete set: yrs finds the item by a binary search of its client's
    blocks, where removing a child by position walks the children before it (5 ms in 100k). The
    transaction's update is the same bytes as a delete by position
    (docs/adr/0018-remote-changes-without-deep-events.md).
    """
    encoder = Encoder()
    # No structs; a delete set of one client with one range: the item's clock, one long.
    for value in (0, 1, item[0], 1, item[1], 1):
        encoder.write_var_uint(value)
    ydoc.apply_update(encoder.to_bytes())


def same_node(node: Any, integrated: Any) -> bool:
    """Whether a handle's node (integrated, wrapped or None) is the integrated element ``integrated``."""
    return node is integrated or (
        node is not None and type(node) is not _IntegratedElement and node.integrated is integrated
    )


def is_text(child: Any) -> bool:
    """Whether a child in an :class:`XmlChange` insert step is a text."""
    return type(child) is _IntegratedText


def integrated_children(parent: XmlElement | XmlFragment, ydoc: Doc[Any]) -> list[Any]:
    """The children of an element or fragment as integrated objects, for :func:`subtree_rows`."""
    with ydoc.transaction() as transaction:
        children: list[Any] = parent.integrated.children(transaction._txn)
    return children


def subtree_rows(
    tops: list[Any], ydoc: Doc[Any], parent_id: str | None, taken: Container[str] | None = None
) -> Subtrees:
    """Every element under ``tops`` (integrated children of ``parent_id``) that has a string id.

    Read through the integrated objects in one transaction for all the tops: the public views cost a
    transaction and a wrapper per attribute read, which made indexing a loaded document slower than
    loading it. Elements without a string id are left out with their subtrees; walked with a stack
    (any depth). With ``taken``, an element whose id is in it or came earlier in the walk is left out
    too (entry None), with its subtree: an imposter the owner of the id must not give way to.
    """
    found = Subtrees()
    seen: set[str] = set()
    with ydoc.transaction() as transaction:
        txn: Any = transaction._txn

        def admitted(children: list[Any]) -> list[str | None]:
            # The hot loop of a load (once per element): inlined, without a call per child.
            entries: list[str | None] = []
            for child in children:
                if type(child) is not _IntegratedElement:
                    entries.append(None)
                    continue
                child_id = child.attribute(txn, ID_ATTRIBUTE)
                if type(child_id) is not str:
                    child_id = None
                    found.unidentified += 1
                elif taken is not None and (child_id in taken or child_id in seen):
                    found.imposters.append(XmlElement(_doc=ydoc, _integrated=child))
                    child_id = None
                else:
                    seen.add(child_id)
                entries.append(child_id)
            return entries

        found.entries.extend(admitted(tops))
        # Pushed last first, so the rows come in document order.
        stack = [
            (top, top_id, parent_id, 1)
            for top, top_id in zip(tops, found.entries, strict=True)
            if top_id is not None
        ]
        stack.reverse()
        rows = found.rows
        depth = 0
        while stack:
            inner, element_id, parent, level = stack.pop()
            if level > depth:
                depth = level
            children = inner.children(txn)
            if not children:  # most elements are leaves
                rows.append((inner, element_id, inner.tag() or "", parent, _NO_ENTRIES))
                continue
            entries = admitted(children)
            tag = inner.tag() or ""
            rows.append((inner, element_id, tag, parent, entries))
            if None in entries:
                found.unindexed.append((tag, entries.count(None)))
            level += 1
            stack.extend(
                (child, child_id, element_id, level)
                for child, child_id in zip(reversed(children), reversed(entries), strict=True)
                if child_id is not None
            )
        found.depth = depth
    return found


def read_node(xml: XmlElement, ydoc: Doc[Any]) -> Node:
    """The subtree under ``xml`` as plain tuples, read in one transaction (the caller's, if open)."""
    with ydoc.transaction() as txn:
        return _node(xml.integrated, txn._txn)


def fragment_nodes(fragment: XmlFragment, ydoc: Doc[Any]) -> list[tuple[int, Node]]:
    """Every element directly in ``fragment``, with its position among all the fragment's children."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        return [
            (raw, _node(child, inner))
            for raw, child in enumerate(fragment.integrated.children(inner))
            if isinstance(child, _IntegratedElement)
        ]


def _node(inner: Any, txn: Any) -> Node:
    # An explicit stack, not recursion: a raw update can nest elements deeper than Python's limit.
    top_elements: list[tuple[int, Node]] = []
    top_texts: list[tuple[int, TextChunks]] = []
    top: Node = (inner.tag(), inner.attributes(txn), top_elements, top_texts)
    stack: list[tuple[Any, list[tuple[int, Node]], list[tuple[int, TextChunks]]]] = [
        (inner, top_elements, top_texts)
    ]
    while stack:
        parent, elements, texts = stack.pop()
        for raw, child in enumerate(parent.children(txn)):
            if isinstance(child, _IntegratedElement):
                element: Any = child  # the integrated class has no type stubs
                grandchildren: list[tuple[int, Node]] = []
                child_texts: list[tuple[int, TextChunks]] = []
                elements.append((raw, (element.tag(), element.attributes(txn), grandchildren, child_texts)))
                stack.append((element, grandchildren, child_texts))
            elif isinstance(child, _IntegratedText):
                texts.append((raw, child.diff(txn)))
    return top


def text_of(xml: XmlElement, ydoc: Doc[Any]) -> tuple[Any, TextChunks] | None:
    """The element's first text child (integrated) and its chunks; None if it has no text child.

    Typing calls this once per keystroke: the public views would add a wrapper per child and per chunk.
    """
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        for child in xml.integrated.children(inner):
            if isinstance(child, _IntegratedText):
                return child, child.diff(inner)
    return None


def text_size(node: Any, ydoc: Doc[Any]) -> int:
    """The length of a :func:`text_of` text as pycrdt counts it (UTF-8 bytes), read without the text."""
    with ydoc.transaction() as txn:
        size: int = node.len(txn._txn)
    return size


def text_holder_id(text: XmlText, ydoc: Doc[Any]) -> str | None:
    """The ``$id`` of the element a text sits in, if it sits in one with a string id.

    Runs once per remote text edit (every keystroke a watcher receives): no wrappers, one transaction.
    """
    with ydoc.transaction() as txn:
        parent = text.integrated.parent()
        if not isinstance(parent, _IntegratedElement):
            return None
        inner: Any = txn._txn
        value = parent.attribute(inner, ID_ATTRIBUTE)
    return value if isinstance(value, str) else None


def splice_text_node(
    node: Any, ydoc: Doc[Any], offset: int, length: int, inserted: str, attributes: dict[str, Any]
) -> None:
    """Delete ``length`` and insert ``inserted`` at ``offset`` (UTF-8 bytes) of a :func:`text_of` text."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        if length:
            node.remove_range(inner, offset, length)
        if inserted:
            node.insert(inner, offset, inserted, iter(attributes.items()))


def format_text_node(node: Any, ydoc: Doc[Any], offset: int, length: int, attributes: dict[str, Any]) -> None:
    """Set (or, with None, remove) formatting on ``length`` UTF-8 bytes from ``offset`` of a text."""
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        node.format(inner, offset, length, iter(attributes.items()))


def node_id(attributes: list[tuple[str, Any]]) -> str | None:
    """The element id among attributes read by :func:`read_node`, if it is a string."""
    for name, value in attributes:
        if name == ID_ATTRIBUTE:
            return value if isinstance(value, str) else None
    return None


def subtree_json(
    xml: XmlElement,
    ydoc: Doc[Any],
    layouts: dict[str, JsonLayout],
    layout_of: Callable[[str], JsonLayout],
    include_ids: bool,
) -> dict[str, Any]:
    """The subtree under ``xml`` in document JSON, each tag laid out by ``layouts`` (else ``layout_of``).

    An element's text comes after its attributes, as a plain string, with its marks under ``$marks``.

    The hot loop of ``to_json()``: it reads the integrated objects straight into the output, with no
    intermediate tree, so 10k elements cost little more than reading the CRDT. An explicit stack of
    (element, its children's list) instead of recursion: no nesting is too deep.
    """

    def element_json(inner: Any) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        tag = inner.tag()
        order, child_name, text_name = layouts.get(tag) or layout_of(tag)
        raw = dict(inner.attributes(txn))
        element_id = raw.pop(ID_ATTRIBUTE, None)
        body: dict[str, Any] = {ID_ATTRIBUTE: element_id} if include_ids and element_id is not None else {}
        # Schema order, not the CRDT's hash order, so equal documents print identically everywhere.
        for name in order:
            value = raw.pop(name, _MISSING)
            if value is not _MISSING:
                body[name] = int(value) if type(value) is float and value.is_integer() else value
        for name in sorted(raw):
            body[name] = read_value(raw[name])
        if text_name is not None:
            chunks = next((c.diff(txn) for c in inner.children(txn) if type(c) is _IntegratedText), [])
            body[text_name], spans = read_chunks(chunks)
            if spans:
                body[MARKS_KEY] = [span.to_json() for span in spans]
        children: list[dict[str, Any]] | None = None
        if child_name is not None:
            children = body[child_name] = []
        return {tag: body}, children

    with ydoc.transaction() as transaction:
        txn: Any = transaction._txn
        top, children = element_json(xml.integrated)
        integrated: Any = xml.integrated
        stack: list[tuple[Any, list[dict[str, Any]]]] = (
            [(integrated, children)] if children is not None else []
        )
        while stack:
            inner, into = stack.pop()
            for child in inner.children(txn):
                if type(child) is _IntegratedElement:
                    child_json, grandchildren = element_json(child)
                    into.append(child_json)
                    if grandchildren is not None:
                        stack.append((child, grandchildren))
        return top
