"""Tool argument schemas built from the schema's element types, inside OpenAI's strict subset.

An element is one flat object: ``{"$tag": tag, attribute: value, ..., <children>: [element, ...]}``,
the same shape ``describe_document`` shows (plus ``$id`` there), so what the model reads is what it
writes. ``$tag`` is a const discriminator per branch and cannot collide with an attribute (names never
start with ``$``). Against MeshAgent's wrapper ``{tag: {...}}`` this costs two nesting levels per tree
level instead of three, which is what keeps nested inserts under strict mode's depth limit.

The rest of the rewrite: attributes become required-and-nullable (null = not set), ordered children
(``prefixItems``) become ``items`` with ``anyOf`` plus ``maxItems`` (the document checks positions),
a union of one is written as its single branch, and only tags that can be inserted somewhere get a
definition. See docs/adr/0004-tool-argument-schemas.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..schema import ChildProperty, MeshSchema, TextProperty, ValueProperty

__all__ = [
    "TAG_KEY",
    "attribute_branches",
    "attribute_names",
    "element_definitions",
    "insertable_tags",
    "object_schema",
    "one_of",
    "to_document_json",
]

#: The key that names an element's tag in tool arguments and in ``describe_document`` output.
TAG_KEY = "$tag"


def object_schema(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A closed object whose properties are all required (strict mode's only kind of object)."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }


def one_of(branches: list[dict[str, Any]]) -> dict[str, Any]:
    """``anyOf`` the branches; a single branch stands alone (fewer bytes, same meaning)."""
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def insertable_tags(schema: MeshSchema) -> list[str]:
    """Tags that some element allows as a child, in schema order: what ``append_child`` can create."""
    children = {
        tag
        for element in schema.elements
        if element.child_property is not None
        for tag in element.child_property.child_tag_names
    }
    return [tag for tag in schema.tag_names if tag in children]


def element_definitions(schema: MeshSchema) -> dict[str, dict[str, Any]]:
    """``$defs`` for the insertable elements, keyed by tag, rewritten for strict mode."""
    wanted = set(insertable_tags(schema))
    defs: dict[str, dict[str, Any]] = {}
    for element in schema.elements:
        if element.tag_name not in wanted:
            continue
        properties: dict[str, Any] = {TAG_KEY: {"type": "string", "const": element.tag_name}}
        for prop in element.properties:
            if isinstance(prop, ChildProperty):
                properties[prop.name] = _children(prop)
            elif isinstance(prop, TextProperty):
                properties[prop.name] = _text(prop)
            else:
                properties[prop.name] = _nullable(prop)
        definition = object_schema(properties)
        if element.description:
            definition["description"] = element.description
        defs[element.tag_name] = definition
    return defs


def to_document_json(element: Mapping[str, Any], schema: MeshSchema) -> dict[str, Any]:
    """A checked flat element as document JSON (``{tag: {...}}``), what ``Element.append_json`` takes."""
    tag = element[TAG_KEY]
    child = schema.element(tag).child_property
    # A copy less its tag rather than a comprehension: every append_child converts one, and the
    # comprehension's frame cost as much as the copy.
    body = dict(element)
    del body[TAG_KEY]
    if child is not None:
        body[child.name] = [to_document_json(item, schema) for item in body[child.name]]
    return {tag: body}


def attribute_names(schema: MeshSchema) -> list[str]:
    """Every attribute name of every element, once, in schema order."""
    names: dict[str, None] = {}
    for element in schema.elements:
        names.update(dict.fromkeys(element.attributes))
    return list(names)


def attribute_branches(schema: MeshSchema) -> list[dict[str, Any]]:
    """One ``{name: const, value: typed}`` branch per attribute name.

    Elements that share an attribute share its branch (many elements carry ``text``); a name with
    different types on different elements gets ``anyOf`` the types as its value, and the document
    checks the element's own type. Which element has which attribute the model reads from
    ``append_child``'s definitions.
    """
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for element in schema.elements:
        for attribute in element.attributes.values():
            value: dict[str, Any] = {"type": attribute.type}
            if attribute.enum is not None:
                value["enum"] = list(attribute.enum)
            values.setdefault(attribute.name, {}).setdefault(json.dumps(value, sort_keys=True), value)
    # One branch per name: branches that share their first key (the name's const) are reported to be
    # rejected by OpenAI, so a name with several value types gets one branch whose value is their union.
    return [
        object_schema({"name": {"type": "string", "const": name}, "value": one_of(list(typed.values()))})
        for name, typed in values.items()
    ]


def _nullable(attribute: ValueProperty) -> dict[str, Any]:
    type_ = attribute.type
    out: dict[str, Any] = {"type": type_ if type_ == "null" else [type_, "null"]}
    if attribute.enum is not None:
        out["enum"] = [*attribute.enum, None]
    if attribute.description:
        out["description"] = attribute.description
    return out


def _text(text: TextProperty) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ["string", "null"]}
    if text.description:
        out["description"] = text.description
    return out


def _children(children: ChildProperty) -> dict[str, Any]:
    unique = [{"$ref": f"#/$defs/{tag}"} for tag in dict.fromkeys(children.child_tag_names)]
    out: dict[str, Any] = {"type": "array", "items": one_of(unique)}
    if children.ordered:
        out["maxItems"] = len(children.child_tag_names)
    if children.description:
        out["description"] = children.description
    return out
