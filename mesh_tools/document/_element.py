"""The element handle: one element of a live document, read and edited through its document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pycrdt import XmlElement

from ..errors import ElementNotFoundError, InvalidOperationError
from ..schema import ID_ATTRIBUTE, ElementType, rules
from ._build import check_limits
from ._events import AttributeChanged, ElementInserted
from ._layout import attribute_items, read_value
from ._marks import MarkSpan
from ._pycrdt import child_count, current_transaction, is_integrated, wrap_element
from ._text import (
    MarkValue,
    TextEdit,
    apply_marks,
    find_snippet,
    format_text,
    read_text,
    splice_text,
)

if TYPE_CHECKING:
    from ._build import PendingMarks
    from ._replica import MeshDocument

__all__ = ["Element"]


class Element:
    """One element of a live document. Handles stay valid until the element is deleted."""

    __slots__ = ("_doc", "_node", "id", "tag_name")

    def __init__(
        self, doc: MeshDocument, node: XmlElement | Any | None, element_id: str, tag_name: str
    ) -> None:
        """``node`` is the pycrdt element, the integrated (Rust) one it would wrap, or None: found at
        the element's position on first use (an element a remote update inserted, indexed from the
        update itself)."""
        self._doc = doc
        # Wrapped on first use: loading a document indexes every element, and pycrdt's wrapper costs
        # more than the rest of indexing one (most handles of a big document are never used).
        self._node = node
        self.id = element_id
        self.tag_name = tag_name

    @property
    def _xml(self) -> XmlElement:
        node = self._node
        if node is None or is_integrated(node):  # an ElementNode is a pycrdt XmlElement already
            if node is None:
                node = self._doc._index.integrated(self.id)
            node = self._node = wrap_element(node, self._doc.ydoc)
        return node

    def __repr__(self) -> str:
        return f"<Element {self.tag_name} id={self.id!r}>"

    @property
    def element_type(self) -> ElementType:
        return self._doc.schema.element(self.tag_name)

    @property
    def is_alive(self) -> bool:
        """False once the element was deleted, locally or by another participant."""
        return self._doc._elements.get(self.id) is self

    def _live(self) -> XmlElement:
        # Touching a deleted pycrdt XmlElement panics in Rust; never let a stale handle get that far.
        if not self.is_alive:
            raise ElementNotFoundError(
                f"element {self.id!r} ({self.tag_name}) was deleted",
                hint="read the document again to get current ids",
            )
        return self._xml

    @property
    def parent(self) -> Element | None:
        parent_id = self._doc._index.parents.get(self.id)
        return None if parent_id is None else self._doc._elements.get(parent_id)

    @property
    def depth(self) -> int:
        """How deep the element sits, the root being 1 (from the index, no CRDT read)."""
        depth = 0
        current: str | None = self.id
        while current is not None:
            depth += 1
            current = self._doc._index.parents.get(current)
        return depth

    def get_children(self) -> list[Element]:
        """The child elements in document order, from the index (no CRDT read)."""
        self._live()
        index = self._doc._elements
        return [index[i] for i in self._doc._index.kids.get(self.id, ()) if i is not None and i in index]

    @property
    def has_children(self) -> bool:
        """Whether any element lies below this one, from the index (no CRDT read)."""
        return any(kid is not None for kid in self._doc._index.kids.get(self.id, ()))

    def count_descendants(self) -> int:
        """How many elements lie below this one, from the index (no CRDT read)."""
        kids = self._doc._index.kids
        stack: list[str | None] = [self.id]
        count = -1
        while stack:
            element_id = stack.pop()
            if element_id is not None:
                count += 1
                stack.extend(kids.get(element_id, ()))
        return count

    @property
    def attributes(self) -> dict[str, Any]:
        """A copy of the element's attributes (the id excluded)."""
        return {k: read_value(v) for k, v in attribute_items(self._live()) if k != ID_ATTRIBUTE}

    def get_attribute(self, name: str, default: Any = None) -> Any:
        raw = self._live().attributes.get(name)
        if raw is None:
            return default
        return read_value(raw)

    def __getitem__(self, name: str) -> Any:
        return self.get_attribute(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self.set_attribute(name, value)

    def set_attribute(self, name: str, value: Any) -> None:
        """Set one attribute; raises (and changes nothing) if the schema does not allow it."""
        self._doc._check_writable()
        xml = self._live()
        self._doc._builder.check_attribute(self.tag_name, name, value)
        with self._doc._api_write():
            old = xml.attributes.get(name)
            xml.attributes[name] = value
            self._doc._pending.append(AttributeChanged(self, name, read_value(old), value, local=True))

    def remove_attribute(self, name: str) -> None:
        """Remove one attribute; a no-op if it is not set."""
        self._doc._check_writable()
        xml = self._live()
        if name == ID_ATTRIBUTE:
            raise rules.id_not_removable()
        if name not in rules.attribute_props(self._doc._builder.element_type(self.tag_name)):
            self._doc._builder.check_attribute(self.tag_name, name, None)
        old = xml.attributes.get(name)
        if old is None:
            return
        with self._doc._api_write():
            del xml.attributes[name]
            self._doc._pending.append(AttributeChanged(self, name, read_value(old), None, local=True))

    # -- text ------------------------------------------------------------------------------------
    # Offsets are characters (Python string indices). Each edit is one transaction, or part of the
    # caller's ``document.transaction()``; see docs/adr/0013-collaborative-text.md.

    @property
    def text(self) -> str:
        """The element's live text as a plain string; raises TextNotAllowedError if it declares none."""
        return read_text(self)[0]

    def text_marks(self) -> list[MarkSpan]:
        """The marks on the element's text, one span per mark and run, ordered by start."""
        return read_text(self)[1]

    def find_snippet(self, snippet: str) -> int:
        """Where ``snippet`` occurs in the text; raises unless it occurs exactly once (hint: the text)."""
        return find_snippet(self, snippet)

    def insert_text(self, index: int, text: str, marks: Mapping[str, MarkValue] | None = None) -> TextEdit:
        """Insert ``text`` at character ``index``, carrying ``marks`` (none by default)."""
        return splice_text(self, index, index, text, marks)

    def delete_text(self, start: int, end: int) -> TextEdit:
        """Delete characters ``start`` to ``end`` (excluded)."""
        return splice_text(self, start, end, "")

    def replace_text(
        self, start: int, end: int, text: str, marks: Mapping[str, MarkValue] | None = None
    ) -> TextEdit:
        """Replace characters ``start`` to ``end`` with ``text``; concurrent edits elsewhere survive."""
        return splice_text(self, start, end, text, marks)

    def set_text(self, text: str) -> TextEdit:
        """Replace the whole text. Prefer ranges: a whole replacement overrides concurrent edits."""
        return splice_text(self, 0, len(self.text), text)

    def format_text(self, start: int, end: int, marks: Mapping[str, MarkValue]) -> None:
        """Apply marks (``True``, or the mark's attributes) or remove them (``None``) on a range."""
        format_text(self, start, end, marks)

    # -- children ---------------------------------------------------------------------------------

    def append_child(self, tag_name: str, attributes: Mapping[str, Any] | None = None) -> Element:
        """Add a child element at the end and return it."""
        return self._insert(None, {tag_name: dict(attributes or {})})

    def insert_child(self, index: int, tag_name: str, attributes: Mapping[str, Any] | None = None) -> Element:
        """Add a child element at ``index`` (0 = first; negative counts from the end) and return it."""
        return self._insert(index, {tag_name: dict(attributes or {})})

    def append_json(self, data: Mapping[str, Any], index: int | None = None) -> Element:
        """Insert a whole subtree given in document JSON (``{tag: {attr: v, <children>: [...]}}``).

        The subtree is checked completely before anything is written and lands in one transaction.
        """
        return self._insert(index, data)

    def _insert(self, index: int | None, data: Mapping[str, Any]) -> Element:
        self._doc._check_writable()
        self._live()
        # One transaction for the read and the write: pycrdt commits a transaction per bare read.
        with self._doc._api_write():
            count = child_count(self._xml.integrated, current_transaction(self._doc.ydoc))
            at = count if index is None else (index + count if index < 0 else index)
            if not 0 <= at <= count:
                raise InvalidOperationError(
                    f"position {index} is outside 0..{count} for element {self.id!r}",
                    hint=f"use a position from 0 to {count}, or omit it to append",
                )
            marks: PendingMarks = []
            built = self._doc._builder.subtree(data, parent_tag=self.tag_name, position=at, marks=marks)
            check_limits(self._doc.limits, self.depth, len(self._doc._elements), [built])
            element = self._doc._index.insert_built(self.id, at, built)
            apply_marks(self._doc, marks)
            self._doc._pending.append(ElementInserted(element, local=True))
            return element

    def move_to(self, parent: Element, index: int | None = None) -> Element:
        """Move this element with its subtree under ``parent`` at ``index`` (None = last; counted among
        the parent's children without this element). The element keeps its id, attributes, text and
        marks, and this handle stays valid; see docs/adr/0016-move-and-undo.md for concurrent moves."""
        from ._move import move_element

        return move_element(self, parent, index)

    def delete(self) -> None:
        """Delete this element and its subtree; the root cannot be deleted."""
        self._doc._check_writable()
        self._live()
        if self.parent is None:
            raise InvalidOperationError("the root element cannot be deleted", hint="delete its children")
        index = self._doc._index
        with self._doc._api_write():
            index.remove(self, index.position(self.id))

    def to_json(self, include_ids: bool = False) -> dict[str, Any]:
        """The subtree in MeshAgent's document JSON shape: ``{tag: {attrs..., <child prop>: [...]}}``."""
        return self._doc._json.subtree(self._live(), include_ids)
