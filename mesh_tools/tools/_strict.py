"""A linter for OpenAI's strict-mode JSON Schema subset (Structured Outputs / ``strict: true`` tools).

The subset and its size limits change over time and the API only reports the first breach, so the
toolkit checks every generated schema locally and reports *every* breach with its location. A schema
with issues is advertised with ``strict: false`` and validated the same way on execution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StrictIssue", "StrictLimits", "lint_strict"]

_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
# Keywords inside OpenAI's documented subset; anything else is reported.
_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "enum",
        "const",
        "$ref",
        "$defs",
        "description",
        "title",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
_WHY_UNSUPPORTED = {
    "oneOf": "use anyOf",
    "allOf": "merge the subschemas",
    "not": "express the allowed values positively",
    "if": "use anyOf branches",
    "then": "use anyOf branches",
    "else": "use anyOf branches",
    "dependentRequired": "make every property required and nullable",
    "dependentSchemas": "use anyOf branches",
    "prefixItems": "use items with anyOf and maxItems",
    "patternProperties": "list the properties",
    "unevaluatedProperties": "use additionalProperties: false",
    "propertyNames": "list the properties",
    "minProperties": "make every property required",
    "maxProperties": "make every property required",
    "default": "make the property required and nullable",
}


@dataclass(frozen=True, slots=True)
class StrictLimits:
    """Size limits of strict mode. The default is the 2026 profile; :meth:`launch_2024` the original one."""

    max_properties: int = 5_000
    max_depth: int = 10
    max_total_chars: int = 120_000
    max_enum_values: int = 1_000
    large_string_enum: int = 250
    max_large_enum_chars: int = 15_000

    @classmethod
    def launch_2024(cls) -> StrictLimits:
        """The limits strict mode launched with (100 properties, 5 nesting levels)."""
        return cls(
            max_properties=100,
            max_depth=5,
            max_total_chars=15_000,
            max_enum_values=500,
            max_large_enum_chars=7_500,
        )


@dataclass(frozen=True, slots=True)
class StrictIssue:
    """One breach of the strict subset: where (a JSON pointer into the schema), which rule, and why."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


def lint_strict(schema: Mapping[str, Any], limits: StrictLimits | None = None) -> list[StrictIssue]:
    """Every way ``schema`` falls outside OpenAI's strict subset or its size limits; empty if it fits.

    Nesting depth counts object and array levels from the root, following ``$ref`` into ``$defs``
    once per path, so recursive definitions count once.
    """
    limits = limits or StrictLimits()
    linter = _Linter(schema, limits)
    linter.run()
    return linter.issues


class _Linter:
    def __init__(self, root: Mapping[str, Any], limits: StrictLimits) -> None:
        self.root = root
        self.limits = limits
        self.issues: list[StrictIssue] = []
        self.properties = 0
        self.chars = 0
        self.enum_values = 0

    def issue(self, path: str, rule: str, message: str) -> None:
        self.issues.append(StrictIssue(path, rule, message))

    def run(self) -> None:
        root = self.root
        if not isinstance(root, Mapping):
            self.issue("", "root_object", "the schema must be a JSON object")
            return
        if "anyOf" in root:
            self.issue("", "root_object", "the root cannot be anyOf; put the union under a property")
        if root.get("type") != "object":
            self.issue("", "root_object", f"the root must have type 'object', not {root.get('type')!r}")
        defs = root.get("$defs", {})
        if not isinstance(defs, Mapping):
            self.issue("/$defs", "keyword", "$defs must be an object")
            defs = {}
        for name, definition in defs.items():
            self.chars += len(name)
            self.check_node(definition, f"/$defs/{_escape(name)}")
        self.check_node(root, "", is_root=True)
        self.check_limits()
        deepest = max(self.depths(root, "", 0, frozenset()), key=lambda level: level[0], default=(0, ""))
        if deepest[0] > self.limits.max_depth:
            self.issue(
                deepest[1],
                "limit_depth",
                f"{deepest[0]} levels of nesting exceed the limit of {self.limits.max_depth}",
            )

    def check_node(self, node: Any, path: str, *, is_root: bool = False) -> None:
        if not isinstance(node, Mapping):
            if node is not True:
                self.issue(path, "keyword", f"a subschema must be an object, got {json.dumps(node)}")
            return
        for keyword in node:
            if keyword not in _KEYWORDS:
                fix = _WHY_UNSUPPORTED.get(keyword, "remove it")
                self.issue(f"{path}/{_escape(keyword)}", "keyword", f"'{keyword}' is not supported; {fix}")
        if "$ref" in node:
            self.check_ref(node, path, is_root)
        if "$defs" in node and not is_root:
            self.issue(f"{path}/$defs", "keyword", "$defs is only supported at the root")
        self.check_type(node, path)
        if "properties" in node or node.get("type") == "object" or _types(node) == {"object", "null"}:
            self.check_object(node, path)
        if "items" in node:
            if node["items"] is False or not isinstance(node["items"], Mapping):
                self.issue(f"{path}/items", "keyword", "items must be a schema")
            else:
                self.check_node(node["items"], f"{path}/items")
        if "anyOf" in node:
            branches = node["anyOf"]
            if not isinstance(branches, list) or not branches:
                self.issue(f"{path}/anyOf", "keyword", "anyOf must be a non-empty list")
            else:
                for i, branch in enumerate(branches):
                    self.check_node(branch, f"{path}/anyOf/{i}")
                self.check_first_keys(branches, f"{path}/anyOf")
        if "enum" in node:
            self.check_enum(node["enum"], f"{path}/enum")
        if "const" in node:
            self.chars += len(str(node["const"]))
        if "format" in node and node["format"] not in _FORMATS:
            self.issue(f"{path}/format", "keyword", f"format {node['format']!r} is not supported")

    def check_first_keys(self, branches: list[Any], path: str) -> None:
        """Object branches whose first property is the same (name and schema) are reported to be
        rejected: the first key is how the grammar tells branches apart."""
        seen: dict[str, int] = {}
        for i, branch in enumerate(branches):
            resolved = (
                self.resolve(branch["$ref"]) if isinstance(branch, Mapping) and "$ref" in branch else branch
            )
            properties = _mapping(resolved).get("properties") if isinstance(resolved, Mapping) else None
            if not isinstance(properties, Mapping) or not properties:
                continue
            name, schema = next(iter(properties.items()))
            key = json.dumps([name, schema], sort_keys=True)
            if key in seen:
                self.issue(
                    f"{path}/{i}",
                    "shared_first_key",
                    f"branches {seen[key]} and {i} start with the same property {name!r}; give each branch "
                    "a distinct first property (a const discriminator) or merge them",
                )
            else:
                seen[key] = i

    def check_ref(self, node: Mapping[str, Any], path: str, is_root: bool) -> None:
        siblings = sorted(set(node) - {"$ref", "$defs"} if is_root else set(node) - {"$ref"})
        if siblings:
            self.issue(path, "ref_siblings", f"$ref cannot have sibling keywords ({', '.join(siblings)})")
        if self.resolve(node["$ref"]) is None:
            self.issue(f"{path}/$ref", "ref_target", f"$ref {node['$ref']!r} does not point into $defs")

    def check_type(self, node: Mapping[str, Any], path: str) -> None:
        if "type" not in node:
            if not any(k in node for k in ("$ref", "anyOf", "enum", "const")):
                self.issue(path, "type", "the subschema has no type")
            return
        types = node["type"]
        listed = types if isinstance(types, list) else [types]
        unknown = [t for t in listed if t not in _TYPES]
        if unknown or not listed:
            self.issue(f"{path}/type", "type", f"unknown type {types!r}")

    def check_object(self, node: Mapping[str, Any], path: str) -> None:
        properties = node.get("properties", {})
        if not isinstance(properties, Mapping):
            self.issue(f"{path}/properties", "keyword", "properties must be an object")
            return
        additional = node.get("additionalProperties")
        if additional is not False:
            why = "a map of values is not supported" if isinstance(additional, Mapping) else "it is missing"
            self.issue(path, "additional_properties", f"additionalProperties must be false ({why})")
            if isinstance(additional, Mapping):
                self.check_node(additional, f"{path}/additionalProperties")
        required = node.get("required", [])
        missing = [name for name in properties if name not in required]
        if missing:
            self.issue(
                f"{path}/required",
                "required",
                f"every property must be required (make optional ones nullable): {', '.join(missing)}",
            )
        unknown = [name for name in required if name not in properties]
        if unknown:
            self.issue(f"{path}/required", "required", f"required lists undefined properties: {unknown}")
        self.properties += len(properties)
        for name, sub in properties.items():
            self.chars += len(name)
            self.check_node(sub, f"{path}/properties/{_escape(name)}")

    def check_enum(self, values: Any, path: str) -> None:
        if not isinstance(values, list) or not values:
            self.issue(path, "keyword", "enum must be a non-empty list")
            return
        self.enum_values += len(values)
        strings = [v for v in values if isinstance(v, str)]
        self.chars += sum(len(str(v)) for v in values)
        total = sum(len(s) for s in strings)
        if len(strings) > self.limits.large_string_enum and total > self.limits.max_large_enum_chars:
            self.issue(
                path,
                "limit_enum",
                f"a string enum of {len(strings)} values may total {self.limits.max_large_enum_chars} "
                f"characters, this one has {total}",
            )

    def check_limits(self) -> None:
        limits = self.limits
        if self.properties > limits.max_properties:
            self.issue(
                "", "limit_properties", f"{self.properties} object properties exceed {limits.max_properties}"
            )
        if self.chars > limits.max_total_chars:
            self.issue(
                "",
                "limit_chars",
                f"{self.chars} characters of names, enum and const values exceed {limits.max_total_chars}",
            )
        if self.enum_values > limits.max_enum_values:
            self.issue("", "limit_enum", f"{self.enum_values} enum values exceed {limits.max_enum_values}")

    def resolve(self, ref: Any) -> Mapping[str, Any] | None:
        if ref == "#":
            return self.root
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return None
        target = self.root.get("$defs", {}).get(_unescape(ref.removeprefix("#/$defs/")))
        return target if isinstance(target, Mapping) else None

    def depths(self, node: Any, path: str, depth: int, seen: frozenset[str]) -> Iterator[tuple[int, str]]:
        """(depth, path) of every object and array; the first deepest one is where a limit breaks."""
        if not isinstance(node, Mapping):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.resolve(ref)
            if target is not None and ref not in seen:
                yield from self.depths(target, path, depth, seen | {ref})
            return
        level = depth
        if _types(node) & {"object", "array"}:
            level += 1
            yield level, path
        for name, sub in _mapping(node.get("properties")).items():
            yield from self.depths(sub, f"{path}/properties/{_escape(name)}", level, seen)
        if isinstance(node.get("items"), Mapping):
            yield from self.depths(node["items"], f"{path}/items", level, seen)
        branches = node.get("anyOf")
        for i, branch in enumerate(branches if isinstance(branches, list) else []):
            yield from self.depths(branch, f"{path}/anyOf/{i}", depth, seen)


def _types(node: Mapping[str, Any]) -> set[str]:
    types = node.get("type")
    if isinstance(types, str):
        return {types}
    return {t for t in types if isinstance(t, str)} if isinstance(types, list) else set()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _unescape(name: str) -> str:
    return name.replace("~1", "/").replace("~0", "~")
