"""Text tools for models: edits anchored on quoted snippets of the current text, never on offsets.

A model cannot count characters reliably, and offsets go stale while others type; a snippet either
still occurs exactly once or the call fails with the current text in its hint (see
docs/adr/0013-collaborative-text.md). Every result says what was removed and inserted, and shows the
text around the edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..document import Element, MarkValue, TextEdit
from ..errors import InvalidValueError
from ..schema import MeshSchema, TextProperty, rules

__all__ = [
    "format_parameters",
    "format_snippet",
    "insert_at_snippet",
    "insert_parameters",
    "mark_attribute_names",
    "mark_names",
    "replace_parameters",
    "replace_snippet",
    "set_parameters",
    "set_whole_text",
    "text_properties",
]

_STRING = {"type": "string"}
_SNIPPET = {"type": "string", "description": "a unique quote of the current text"}
_NULLABLE_SNIPPET = {"type": ["string", "null"], "description": "a unique quote of the current text, or null"}
#: Results show the whole text up to this many characters, else this many on each side of the edit.
_WHOLE_TEXT = 400
_CONTEXT = 80


def text_properties(schema: MeshSchema) -> list[TextProperty]:
    """The text properties of the schema's elements, in schema order."""
    return [e.text_property for e in schema.elements if e.text_property is not None]


def mark_names(schema: MeshSchema) -> list[str]:
    """Every mark any text of the schema allows, once, in schema order."""
    names: dict[str, None] = {}
    for text in text_properties(schema):
        names.update(dict.fromkeys(text.allowed_marks))
    return list(names)


def mark_attribute_names(schema: MeshSchema) -> list[str]:
    """Every attribute any mark takes (``href``), once: format_text takes each as a nullable string."""
    names: dict[str, None] = {}
    for text in text_properties(schema):
        for mark in text.marks:
            names.update(dict.fromkeys(mark.attributes))
    return list(names)


# -- parameters -----------------------------------------------------------------------------------


def replace_parameters() -> dict[str, Any]:
    return {"id": _STRING, "snippet": _SNIPPET, "text": {"type": "string", "description": "'' deletes"}}


def insert_parameters() -> dict[str, Any]:
    return {"id": _STRING, "after": _NULLABLE_SNIPPET, "before": _NULLABLE_SNIPPET, "text": _STRING}


def set_parameters() -> dict[str, Any]:
    return {"id": _STRING, "text": _STRING}


def format_parameters(schema: MeshSchema) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": _STRING,
        "snippet": _SNIPPET,
        "mark": {"type": "string", "enum": mark_names(schema)},
        "on": {"type": "boolean", "description": "true sets the mark, false clears it"},
    }
    for name in mark_attribute_names(schema):
        properties[name] = {"type": ["string", "null"], "description": "for marks that take it, else null"}
    return properties


# -- handlers -------------------------------------------------------------------------------------


def replace_snippet(element: Element, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the one occurrence of ``snippet`` with ``text``; concurrent edits elsewhere survive."""
    snippet: str = arguments["snippet"]
    at = element.find_snippet(snippet)
    return _result(element, element.replace_text(at, at + len(snippet), arguments["text"]))


def insert_at_snippet(element: Element, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Insert ``text`` right after ``after``, right before ``before``, or at the end if both are null."""
    after, before = arguments["after"], arguments["before"]
    if after is not None and before is not None:
        raise InvalidValueError(
            "give after or before, not both", hint="quote the words the new text should follow (after)"
        )
    if after is not None:
        at = element.find_snippet(after) + len(after)
    elif before is not None:
        at = element.find_snippet(before)
    else:
        at = len(element.text)
    return _result(element, element.insert_text(at, arguments["text"]))


def set_whole_text(element: Element, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the whole text (what others typed meanwhile is replaced too)."""
    return _result(element, element.set_text(arguments["text"]))


def format_snippet(element: Element, arguments: Mapping[str, Any], schema: MeshSchema) -> dict[str, Any]:
    """Set or clear one mark on the one occurrence of ``snippet``."""
    snippet: str = arguments["snippet"]
    name: str = arguments["mark"]
    element_type = schema.element(element.tag_name)
    text = element_type.text_property
    if text is None:
        raise rules.text_not_allowed(
            element.tag_name, [t.tag_name for t in schema.elements if t.text_property]
        )
    mark = text.allowed_marks.get(name)
    if mark is None:
        raise rules.mark_not_allowed(text, element.tag_name, name)
    value: MarkValue = None
    if arguments["on"]:
        missing = [a for a in mark.attributes if arguments.get(a) is None]
        if missing:
            raise InvalidValueError(
                f"the mark {name!r} needs {', '.join(repr(a) for a in missing)}",
                hint=f"give {', '.join(missing)} as strings; "
                f"marks of <{element.tag_name}>: {text.describe_marks()}",
            )
        value = {a: arguments[a] for a in mark.attributes} if mark.attributes else True
    at = element.find_snippet(snippet)
    element.format_text(at, at + len(snippet), {name: value})
    marks = [span.to_json() for span in element.text_marks()]
    return {"formatted": snippet, "mark": name, "on": bool(arguments["on"]), "marks": marks}


def _result(element: Element, edit: TextEdit) -> dict[str, Any]:
    text = element.text
    result: dict[str, Any] = {"at": edit.at, "removed": edit.removed, "inserted": edit.inserted}
    if len(text) <= _WHOLE_TEXT:
        result["text"] = text
    else:
        start = max(0, edit.at - _CONTEXT)
        end = min(len(text), edit.at + len(edit.inserted) + _CONTEXT)
        result["context"] = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return result
