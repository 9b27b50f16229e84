"""Every use of pycrdt's private API, in one place, each with the reason the public API does not do.

pycrdt's public views (``XmlElement.children``, ``.attributes``) open a transaction and build a Python
wrapper per call; the whole-tree reads here go through the integrated (Rust) objects behind them
instead, which made reading a 10k-element document ~8x faster. Checked against pycrdt 0.14.13-0.14.x
(pyproject.toml pins ``pycrdt>=0.14.13,<0.15``); the tests in tests/document/ exercise every function
here, so a pycrdt release that moves one of these names fails them rather than the users.

The private names used: ``pycrdt._pycrdt.XmlElement`` and ``pycrdt._pycrdt.XmlText`` (the integrated
element and text classes), the ``integrated`` attribute of XmlElement/XmlFragment/XmlText, its
``tag()``, ``attributes(txn)``, ``attribute(txn, name)``, ``children(txn)`` and
``observe_deep(callback)`` methods, the integrated text's ``parent()``, ``diff(txn)``, ``len(txn)``,
``remove_range(txn, ...)``, ``insert(txn, ...)`` and ``format(txn, ...)``, ``Transaction._txn`` (the
Rust transaction those methods take), and ``pycrdt._base.observe_deep_callback`` (the adapter from Rust
events to pycrdt's Python events).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, TypeAlias

from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from pycrdt._base import observe_deep_callback
from pycrdt._pycrdt import XmlElement as _IntegratedElement
from pycrdt._pycrdt import XmlText as _IntegratedText

from ..schema import ID_ATTRIBUTE
from ._layout import read_value
from ._marks import MARKS_KEY, read_chunks

__all__ = [
    "DeepObserver",
    "JsonLayout",
    "Node",
    "child_ids",
    "format_text_node",
    "fragment_nodes",
    "node_id",
    "read_node",
    "splice_text_node",
    "subtree_json",
    "text_holder_id",
    "text_of",
    "text_size",
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


class DeepObserver:
    """Deep events of a fragment, as pycrdt's Python events, at the cost of one Rust subscription.

    pycrdt's public ``observe_deep()`` inspects the callback's signature on every call (~50 µs), too much
    to pay per applied update; this builds pycrdt's own adapter once and subscribes it directly.
    """

    def __init__(self, fragment: XmlFragment, ydoc: Doc[Any], callback: Callable[[list[Any]], None]) -> None:
        self._fragment = fragment
        self._adapter = partial(observe_deep_callback, callback, ydoc, 1)

    def subscribe(self) -> Subscription:
        subscription: Subscription = self._fragment.integrated.observe_deep(self._adapter)
        return subscription


def child_ids(xml: XmlElement, ydoc: Doc[Any]) -> list[object]:
    """The ``$id`` values of an element's child elements, in document order.

    One transaction and no wrapper objects: this runs for every element a reader walks.
    """
    with ydoc.transaction() as txn:
        inner: Any = txn._txn
        return [
            child.attribute(inner, ID_ATTRIBUTE)
            for child in xml.integrated.children(inner)
            if isinstance(child, _IntegratedElement)
        ]


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
