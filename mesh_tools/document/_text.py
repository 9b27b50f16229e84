"""Collaborative text: an element's text as one Yjs ``XmlText`` child, read and edited in characters.

An element whose type declares a :class:`~mesh_tools.schema.TextProperty` holds its text as its only
child, an ``XmlText`` created with the element, so concurrent edits by any replica land in the same
Yjs text and merge character by character (see docs/adr/0013-collaborative-text.md). Marks are Yjs
formatting attributes: ``true`` for a mark without attributes, an object of strings for one with.

pycrdt counts text offsets in UTF-8 bytes; this module takes and gives offsets in characters (Python
string indices) and converts at the boundary, so a program never splits a character in two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from pycrdt import XmlElement, XmlText

from ..errors import AmbiguousSnippetError, InvalidOperationError, InvalidValueError, SnippetNotFoundError
from ..schema import TextProperty, rules
from ._events import DocumentEvent, TextChanged
from ._layout import id_of
from ._marks import MARKS_KEY, Chunks, MarkSpan, read_chunks
from ._pycrdt import (
    XmlChange,
    format_text_node,
    is_text,
    splice_text_node,
    text_holder_id,
    text_of,
    text_size,
)

if TYPE_CHECKING:
    from ._element import Element
    from ._index import Integration
    from ._replica import MeshDocument

__all__ = [
    "LastTyped",
    "MarkValue",
    "TextEdit",
    "apply_marks",
    "collect_text_changes",
    "find_snippet",
    "format_text",
    "locate_snippet",
    "parse_spans",
    "read_text",
    "read_text_delta",
    "splice_text",
]

#: A mark as a program sets it: True (or an object of its attributes) to apply, None or False to remove.
MarkValue: TypeAlias = bool | Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class TextEdit:
    """What a text edit did: at character ``at``, ``removed`` was replaced by ``inserted``."""

    at: int
    removed: str
    inserted: str


@dataclass(frozen=True, slots=True)
class LastTyped:
    """The text this replica's API edited last, as that edit left it.

    Typing edits one text keystroke after keystroke, and each edit needs the characters (to turn
    character offsets into pycrdt's bytes). Reading them back from the CRDT costs O(length) in Rust
    and Python objects per keystroke (~100 µs at 5,000 characters); this copy is used instead while
    no other transaction has run on the document since (``transactions``) and pycrdt's length agrees.
    """

    element: Element
    node: Any
    transactions: int
    characters: str
    size: int


def read_text_delta(delta: Iterable[Mapping[str, Any]]) -> tuple[str, list[MarkSpan]]:
    """The plain text and its marks from a Yjs delta (``text.toDelta()`` of a JavaScript client)."""
    return read_chunks((op["insert"], op.get("attributes")) for op in delta if "insert" in op)


def read_text(element: Element) -> tuple[str, list[MarkSpan]]:
    """The element's text and marks; raises TextNotAllowedError if its type declares no text."""
    _text_property(element)
    found = text_of(element._live(), element._doc.ydoc)
    return read_chunks(found[1]) if found is not None else ("", [])


def splice_text(
    element: Element, start: int, end: int, inserted: str, marks: Mapping[str, MarkValue] | None = None
) -> TextEdit:
    """Replace characters ``start`` to ``end`` with ``inserted`` (carrying ``marks``), in one transaction.

    Inserted characters carry exactly ``marks`` (none by default), not the formatting of their neighbours.
    """
    doc = element._doc
    doc._check_writable()
    xml = element._live()
    prop = _text_property(element)
    if not isinstance(inserted, str):
        raise rules.invalid_value(element.tag_name, prop.name, repr(inserted), hint="expected a string")
    attributes = {name: value for name, value in _checked_marks(element, prop, marks or {}).items() if value}
    with doc._api_write():
        node, text, size = _text_to_splice(element, xml)
        _check_range(element, text, start, end)
        removed = text[start:end]
        removed_size = len(removed.encode("utf-8"))
        splice_text_node(node, doc.ydoc, _byte_offset(text, start), removed_size, inserted, attributes)
        size += len(inserted.encode("utf-8")) - removed_size
        doc._last_typed = LastTyped(
            element, node, doc._transactions, text[:start] + inserted + text[end:], size
        )
        if removed or inserted:
            doc._pending.append(TextChanged(element, local=True))
    return TextEdit(start, removed, inserted)


def _text_to_splice(element: Element, xml: XmlElement) -> tuple[Any, str, int]:
    """The element's integrated text, its characters and pycrdt length; made if the element lacks one."""
    doc = element._doc
    last = doc._last_typed
    if (
        last is not None
        and last.element is element
        and last.transactions + 1 == doc._transactions  # only the caller's own transaction since
        and text_size(last.node, doc.ydoc) == last.size
    ):
        return last.node, last.characters, last.size
    found = text_of(xml, doc.ydoc)
    if found is None:
        # Only a root or an element from a foreign client lacks its text; concurrent creators of
        # this lazily made text would each get their own (see the ADR), elements built here never do.
        xml.children.insert(0, XmlText())
        doc._index.insert_text(element.id, 0)
        found = text_of(xml, doc.ydoc)
        assert found is not None
    return found[0], _characters(found[1]), text_size(found[0], doc.ydoc)


def format_text(element: Element, start: int, end: int, marks: Mapping[str, MarkValue]) -> None:
    """Apply (True or attributes) or remove (None or False) ``marks`` on characters ``start`` to ``end``."""
    doc = element._doc
    doc._check_writable()
    xml = element._live()
    prop = _text_property(element)
    attributes = {name: value or None for name, value in _checked_marks(element, prop, marks).items()}
    with doc._api_write():
        found = text_of(xml, doc.ydoc)
        text = "" if found is None else _characters(found[1])
        _check_range(element, text, start, end)
        if found is None or end == start or not attributes:
            return
        begin = _byte_offset(text, start)
        format_text_node(found[0], doc.ydoc, begin, len(text[start:end].encode("utf-8")), attributes)
        doc._pending.append(TextChanged(element, local=True))


def parse_spans(prop: TextProperty, tag: str, raw: Any, text: str, where: str) -> list[MarkSpan]:
    """Mark spans given in document JSON (``$marks``), checked against the text and its schema."""
    if not isinstance(raw, list):
        raise InvalidValueError(
            f"{where}: {MARKS_KEY} must be a list of spans",
            hint='write [{"mark": "bold", "start": 0, "end": 4}]',
        )
    spans = []
    for i, item in enumerate(raw):
        at = f"{where}.{MARKS_KEY}[{i}]"
        start, end = (item.get("start"), item.get("end")) if isinstance(item, Mapping) else (None, None)
        if not (
            isinstance(item, Mapping)
            and isinstance(item.get("mark"), str)
            and type(start) is int
            and type(end) is int
            and 0 <= start < end <= len(text)
        ):
            raise InvalidValueError(
                f"{at}: {item!r} is not a mark span over the text (0..{len(text)})",
                hint='write {"mark": name, "start": first character, "end": after the last, attributes...}',
            )
        name = item["mark"]
        attributes = {k: v for k, v in item.items() if k not in ("mark", "start", "end")}
        mark = prop.allowed_marks.get(name)
        value: Any = True if mark is not None and not mark.attributes and not attributes else attributes
        error = rules.mark_error(prop, tag, name, value)
        if error is not None:
            raise error
        spans.append(MarkSpan(name, start, end, attributes))
    return spans


def apply_marks(doc: MeshDocument, pending: list[tuple[str, list[MarkSpan]]]) -> None:
    """Format the texts of just-built elements with the marks their JSON gave (inside the caller's write)."""
    for element_id, spans in pending:
        element = doc._elements[element_id]
        for span in spans:
            format_text(element, span.start, span.end, {span.mark: dict(span.attributes) or True})


def find_snippet(element: Element, snippet: str) -> int:
    """Where ``snippet`` occurs in the element's text; raises if it occurs never or more than once.

    The errors carry the current text in their hint, so a model can pick a snippet that fits.
    """
    return locate_snippet(read_text(element)[0], snippet, element.id)


def locate_snippet(text: str, snippet: str, element_id: str) -> int:
    """Where ``snippet`` occurs in ``text`` (element ``element_id``'s); raises unless exactly once."""
    if not snippet:
        raise InvalidOperationError("the snippet is empty", hint="quote a few words of the current text")
    first = text.find(snippet)
    if first < 0:
        raise SnippetNotFoundError(
            f"the text of {element_id!r} does not contain {snippet!r}", hint=_current_text_hint(text)
        )
    if text.find(snippet, first + 1) >= 0:
        count = sum(1 for i in range(first, len(text)) if text.startswith(snippet, i))  # overlaps count
        raise AmbiguousSnippetError(
            f"{snippet!r} occurs {count} times in the text of {element_id!r}",
            hint="quote more words around it so it occurs once; " + _current_text_hint(text),
        )
    return first


def collect_text_changes(
    doc: MeshDocument, xml_changes: list[XmlChange], *, local: bool, into: Integration
) -> None:
    """Turn remote edits of texts (the root fragment's deep changes) into one TextChanged per element.

    Only changes that can break the schema go to ``into`` for checking: a text created, marks set, or
    something other than characters inserted. Plain typing into a valid text cannot, and checking it
    would read the whole text on every keystroke.
    """
    changed: dict[str, bool] = {}
    for event in xml_changes:
        target: Any = event.target
        if isinstance(target, XmlText):
            element_id, suspect = text_holder_id(target, doc.ydoc), any(_may_break(d) for d in event.delta)
        elif isinstance(target, XmlElement) and any(
            is_text(item) for delta in event.delta for item in delta.get("insert", ())
        ):
            element_id, suspect = id_of(target), True  # a text was created in an element: may it hold one?
        else:
            continue
        if element_id is not None:
            changed[element_id] = suspect or changed.get(element_id, False)
    record_text_changes(doc, changed, local=local, into=into)


def record_text_changes(
    doc: MeshDocument, changed: Mapping[str, bool], *, local: bool, into: Integration
) -> None:
    """One TextChanged per element of ``changed`` still indexed (id -> whether the edit may break the
    schema: only those go to ``into`` for checking)."""
    for element_id, suspect in changed.items():
        element = doc._elements.get(element_id)
        if element is None:
            continue
        change: DocumentEvent = TextChanged(element, local)
        doc._pending.append(change)
        if suspect:
            into.changes.append(change)


# -- helpers ------------------------------------------------------------------------------------


def _may_break(delta: Mapping[str, Any]) -> bool:
    """Whether one op of a text event's delta can break the schema: marks, or a non-character insert."""
    return bool(delta.get("attributes")) or ("insert" in delta and not isinstance(delta["insert"], str))


_HINT_TEXT_LIMIT = 2_000


def _current_text_hint(text: str) -> str:
    shown = text if len(text) <= _HINT_TEXT_LIMIT else text[:_HINT_TEXT_LIMIT] + "…"
    return f"the current text is {shown!r}"


def _text_property(element: Element) -> TextProperty:
    element_type = element._doc._builder.element_type(element.tag_name)
    error = rules.text_error(element._doc.schema, element_type, element.tag_name)
    if error is not None:
        raise error
    assert element_type is not None and element_type.text_property is not None
    return element_type.text_property


def _checked_marks(element: Element, prop: TextProperty, marks: Mapping[str, MarkValue]) -> dict[str, Any]:
    """``marks`` as stored (True or attributes; None to remove), or the schema's error."""
    out: dict[str, Any] = {}
    for name, value in marks.items():
        if (value is None or value is False) and name in prop.allowed_marks:
            out[name] = None
            continue
        error = rules.mark_error(prop, element.tag_name, name, value)
        if error is not None:
            raise error
        out[name] = rules.mark_value(prop, name, value)
    return out


def _check_range(element: Element, text: str, start: int, end: int) -> None:
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text)):
        raise InvalidOperationError(
            f"range {start}..{end} is outside the text of {element.id!r} (0..{len(text)})",
            hint=f"use 0 <= start <= end <= {len(text)}",
        )


def _characters(chunks: Chunks) -> str:
    return "".join(value for value, _ in chunks if isinstance(value, str))


def _byte_offset(text: str, index: int) -> int:
    """pycrdt's offset (UTF-8 bytes) of character ``index``."""
    return index if text.isascii() else len(text[:index].encode("utf-8"))
