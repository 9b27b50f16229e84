"""The batch and move tools' arguments: strict-mode schemas, and the document edits they stand for.

``apply_edits`` takes a list of edits, each an object whose first property ``op`` is a const, so the
branches of its ``anyOf`` never share a first key. An insert creates one element (attributes and text,
no children) and may name it with ``ref``; later edits address it as ``@ref``, which is how a model
builds a subtree in one call without nesting: the schema stays four levels deep whatever the document
schema's nesting (strict mode allows ten).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..document import (
    DeleteEdit,
    Edit,
    FormatTextEdit,
    InsertEdit,
    MarkSpan,
    MeshDocument,
    MoveEdit,
    RemoveAttributeEdit,
    ReplaceTextEdit,
    SetAttributeEdit,
    SpliceTextEdit,
    edit_error,
)
from ..errors import MeshError
from ..schema import MeshSchema
from ._addresses import resolve
from ._arguments import (
    TAG_KEY,
    attribute_branches,
    attribute_names,
    element_definitions,
    object_schema,
    one_of,
)
from ._text_tools import text_properties

__all__ = ["edits_parameters", "move_parameters", "restore_text", "to_edits"]

_STRING = {"type": "string"}
_ADDRESS = {"type": "string", "description": "an $id, a path, or @ref of an earlier insert"}
_POSITION = {"type": ["integer", "null"], "description": "null = last"}


def move_parameters() -> dict[str, Any]:
    return {"id": _STRING, "parent_id": _STRING, "position": _POSITION}


def edits_parameters(schema: MeshSchema) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``edits`` property and the ``$defs`` (one flat element per insertable tag) it refers to."""
    defs = _flat_definitions(schema)
    branches = [
        _op(
            "insert",
            parent=_ADDRESS,
            position=_POSITION,
            ref={"type": ["string", "null"], "description": "name it; later edits use @name"},
            element=one_of([{"$ref": f"#/$defs/{tag}"} for tag in defs]),
        ),
        _op("delete", id=_ADDRESS),
        _op("move", id=_ADDRESS, parent=_ADDRESS, position=_POSITION),
    ]
    if attribute_names(schema):
        branches[1:1] = [
            _op("set", id=_ADDRESS, attribute=one_of(attribute_branches(schema))),
            _op("remove", id=_ADDRESS, name={"type": "string", "enum": attribute_names(schema)}),
        ]
    if text_properties(schema):
        branches += [
            _op("replace_text", id=_ADDRESS, snippet=_STRING, text=_STRING),
            _op("set_text", id=_ADDRESS, text=_STRING),
        ]
    edits = {
        "type": "array",
        "items": one_of(branches),
        "description": "applied in order, all or none",
    }
    return edits, defs


def _op(op: str, **properties: Any) -> dict[str, Any]:
    return object_schema({"op": {"type": "string", "const": op}, **properties})


def _flat_definitions(schema: MeshSchema) -> dict[str, Any]:
    """The insertable elements without their children: children come from later inserts."""
    defs = element_definitions(schema)
    for tag, definition in defs.items():
        child = schema.element(tag).child_property
        if child is not None:
            del definition["properties"][child.name]
            definition["required"].remove(child.name)
    return defs


def to_edits(items: list[Mapping[str, Any]], document: MeshDocument) -> list[Edit]:
    """The checked ``edits`` argument as document edits, addresses resolved to ids where they exist.

    A ref, or an id no element has, goes on as given: the batch names the edit that fails on it.
    """
    edits = []
    for index, item in enumerate(items):

        def address(value: str, index: int = index, op: str = item["op"]) -> str:
            if value.startswith("@"):
                return value
            try:
                found = resolve(document, value)
            except MeshError as error:
                raise edit_error(error, index, op) from error
            return value if found is None else found.element.id

        edits.append(_EDITS[item["op"]](item, address))
    return edits


def _insert(item: Mapping[str, Any], address: Callable[[str], str]) -> Edit:
    element = item["element"]
    body = {name: value for name, value in element.items() if name != TAG_KEY}
    return InsertEdit(address(item["parent"]), {element[TAG_KEY]: body}, item["position"], item["ref"])


_EDITS: dict[str, Callable[[Mapping[str, Any], Callable[[str], str]], Edit]] = {
    "insert": _insert,
    "set": lambda item, address: SetAttributeEdit(
        address(item["id"]), item["attribute"]["name"], item["attribute"]["value"]
    ),
    "remove": lambda item, address: RemoveAttributeEdit(address(item["id"]), item["name"]),
    "delete": lambda item, address: DeleteEdit(address(item["id"])),
    "move": lambda item, address: MoveEdit(address(item["id"]), address(item["parent"]), item["position"]),
    "replace_text": lambda item, address: ReplaceTextEdit(address(item["id"]), item["snippet"], item["text"]),
    "set_text": lambda item, address: SpliceTextEdit(address(item["id"]), 0, None, item["text"]),
}


def restore_text(
    element_id: str, earlier: tuple[str, list[MarkSpan]], now: tuple[str, list[MarkSpan]]
) -> list[Edit]:
    """The edits that bring a text and its marks from ``after`` back to ``before``.

    Only the characters that differ are rewritten, so others' typing that has not arrived yet merges
    around them; marks, when either side has some, are cleared and put back over the whole text.
    """
    (before, spans), (after, after_spans) = earlier, now
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    edits: list[Edit] = []
    if before != after:
        edits.append(
            SpliceTextEdit(element_id, prefix, len(after) - suffix, before[prefix : len(before) - suffix])
        )
    names = {span.mark for span in [*spans, *after_spans]}
    if before and names:
        edits.append(FormatTextEdit(element_id, 0, len(before), dict.fromkeys(names)))
        edits += [
            FormatTextEdit(element_id, span.start, span.end, {span.mark: dict(span.attributes) or True})
            for span in spans
        ]
    return edits
