"""Argument schemas the MCP way: optional fields are optional, not required-and-nullable.

OpenAI's strict mode needs every property required, so an optional one is written as nullable
(``{"type": ["integer", "null"]}``, listed in ``required``). MCP clients that build forms from the
schema (the MCP Inspector, desktop apps) then demand a value for every field. For MCP the same
schema is rewritten: a nullable property leaves ``required`` and loses its ``null``. A call that
omits it is filled back with null before the toolkit checks it, so one validator serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["fill_omitted", "optional_fields_schema"]


def optional_fields_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a strict schema with every nullable property optional and not nullable."""
    relaxed: dict[str, Any] = _relax(schema)
    return relaxed


def fill_omitted(schema: Mapping[str, Any], arguments: Any) -> Any:
    """The arguments with each omitted nullable property of ``schema`` present as null.

    Follows ``$ref`` into ``$defs``, arrays' ``items``, and ``anyOf`` branches told apart by a
    ``const`` property (the element's ``$tag``, an attribute's ``name``); anything that fits no
    branch is left for the validator to reject.
    """
    return _fill(schema, arguments, schema.get("$defs", {}))


def _relax(node: Any) -> Any:
    if isinstance(node, list):
        return [_relax(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: _relax(value) for key, value in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict) and "required" in out:
        nullable = {name for name, prop in node["properties"].items() if _nullable(prop)}
        out["required"] = [name for name in out["required"] if name not in nullable]
        for name in nullable:
            out["properties"][name] = _without_null(out["properties"][name])
    return out


def _nullable(prop: Any) -> bool:
    if not isinstance(prop, Mapping):
        return False
    kind = prop.get("type")
    return isinstance(kind, list) and "null" in kind and len(kind) > 1


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    out = dict(prop)
    kinds = [kind for kind in prop["type"] if kind != "null"]
    out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in out:
        out["enum"] = [value for value in out["enum"] if value is not None]
    return out


def _fill(node: Mapping[str, Any], value: Any, defs: Mapping[str, Any]) -> Any:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        return value if target is None else _fill(target, value, defs)
    if "anyOf" in node:
        branch = _branch(node["anyOf"], value, defs)
        return value if branch is None else _fill(branch, value, defs)
    if isinstance(value, dict) and isinstance(node.get("properties"), Mapping):
        properties = node["properties"]
        filled = {name: None for name, prop in properties.items() if name not in value and _nullable(prop)}
        filled.update(
            {
                name: _fill(properties[name], item, defs) if name in properties else item
                for name, item in value.items()
            }
        )
        return filled
    if isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_fill(node["items"], item, defs) for item in value]
    return value


def _branch(branches: list[Any], value: Any, defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``anyOf`` branch whose ``const`` properties the value carries."""
    if not isinstance(value, dict):
        return None
    for branch in branches:
        resolved = branch
        ref = branch.get("$ref") if isinstance(branch, Mapping) else None
        if isinstance(ref, str):
            resolved = defs.get(ref.removeprefix("#/$defs/"), {})
        consts = {
            name: prop["const"]
            for name, prop in resolved.get("properties", {}).items()
            if isinstance(prop, Mapping) and "const" in prop
        }
        if consts and all(value.get(name) == const for name, const in consts.items()):
            chosen: Mapping[str, Any] = branch
            return chosen
    return None
