"""lint_strict: every breach of OpenAI's strict subset and size limits, with where and why."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_tools.tools import StrictLimits, lint_strict


def closed(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


def rules(schema: dict[str, Any], limits: StrictLimits | None = None) -> list[tuple[str, str]]:
    return [(issue.path, issue.rule) for issue in lint_strict(schema, limits)]


def test_a_strict_schema_has_no_issues() -> None:
    schema = closed(
        {
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "size": {"type": ["number", "null"], "minimum": 0},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "when": {"type": "string", "format": "date-time"},
            "item": {"anyOf": [{"$ref": "#/$defs/leaf"}, {"type": "null"}]},
            "list": {"type": "array", "items": {"$ref": "#"}, "maxItems": 3},
        },
        **{"$defs": {"leaf": closed({"tag": {"type": "string", "const": "leaf"}})}},
    )
    assert lint_strict(schema) == []


def test_root_must_be_a_plain_object() -> None:
    assert rules({"anyOf": [closed({})]}) == [("", "root_object"), ("", "root_object")]
    assert rules({"type": "array", "items": {"type": "string"}}) == [("", "root_object")]


def test_objects_must_be_closed_and_list_every_property() -> None:
    schema = closed(
        {
            "open": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "partial": {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
            },
            "map": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    )
    issues = lint_strict(schema)
    assert [(i.path, i.rule) for i in issues] == [
        ("/properties/open", "additional_properties"),
        ("/properties/partial/required", "required"),
        ("/properties/map", "additional_properties"),
    ]
    assert str(issues[1]) == (
        "/properties/partial/required: every property must be required (make optional ones nullable): b"
    )
    assert issues[2].message == "additionalProperties must be false (a map of values is not supported)"


@pytest.mark.parametrize(
    ("keyword", "value", "fix"),
    [
        ("oneOf", [{"type": "string"}], "use anyOf"),
        ("allOf", [{"type": "string"}], "merge the subschemas"),
        ("not", {"type": "null"}, "express the allowed values positively"),
        ("prefixItems", [{"type": "string"}], "use items with anyOf and maxItems"),
        ("if", {"type": "string"}, "use anyOf branches"),
        ("dependentRequired", {}, "make every property required and nullable"),
        ("default", None, "make the property required and nullable"),
        ("minLength", 1, "remove it"),
    ],
)
def test_unsupported_keywords_are_named_with_a_fix(keyword: str, value: Any, fix: str) -> None:
    schema = closed({"x": {"type": "string", keyword: value}})
    issues = lint_strict(schema)
    assert [(i.path, i.rule, i.message) for i in issues] == [
        (f"/properties/x/{keyword}", "keyword", f"'{keyword}' is not supported; {fix}")
    ]


def test_ref_siblings_missing_targets_and_items_false() -> None:
    schema = closed(
        {
            "a": {"$ref": "#/$defs/leaf", "description": "why"},
            "b": {"$ref": "#/$defs/missing"},
            "c": {"type": "array", "items": False},
        },
        **{"$defs": {"leaf": closed({})}},
    )
    issues = lint_strict(schema)
    assert [(i.path, i.rule) for i in issues] == [
        ("/properties/a", "ref_siblings"),
        ("/properties/b/$ref", "ref_target"),
        ("/properties/c/items", "keyword"),
    ]
    assert issues[0].message == "$ref cannot have sibling keywords (description)"


def test_types_formats_and_empty_unions() -> None:
    schema = closed(
        {
            "a": {"type": "date"},
            "b": {"type": "string", "format": "uri"},
            "c": {"anyOf": []},
            "d": {"description": "no type"},
        }
    )
    assert rules(schema) == [
        ("/properties/a/type", "type"),
        ("/properties/b/format", "keyword"),
        ("/properties/c/anyOf", "keyword"),
        ("/properties/d", "type"),
    ]


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = closed({"x": schema})
    return schema


def test_nesting_depth_counts_object_levels_and_follows_refs_once() -> None:
    assert lint_strict(nested(10)) == []
    issues = lint_strict(nested(11))
    assert [(i.path, i.rule, i.message) for i in issues] == [
        ("/properties/x" * 10, "limit_depth", "11 levels of nesting exceed the limit of 10")
    ]
    assert rules(nested(6), StrictLimits.launch_2024()) == [("/properties/x" * 5, "limit_depth")]
    # Through $defs: the root (1) -> a (2) -> b (3), and recursion back into a counts once.
    recursive = closed(
        {"a": {"$ref": "#/$defs/a"}},
        **{"$defs": {"a": closed({"b": closed({"again": {"$ref": "#/$defs/a"}})})}},
    )
    assert lint_strict(recursive) == []
    assert rules(recursive, StrictLimits(max_depth=2)) == [("/properties/a/properties/b", "limit_depth")]


def test_size_limits() -> None:
    many = closed({f"p{i}": {"type": "string"} for i in range(101)})
    assert rules(many) == []
    assert rules(many, StrictLimits.launch_2024()) == [("", "limit_properties")]
    long_names = closed({"n" * 70_000: {"type": "string"}, "m" * 60_000: {"type": "string"}})
    assert rules(long_names) == [("", "limit_chars")]
    enum = closed({"e": {"type": "string", "enum": [f"value-{i:04d}-" + "x" * 50 for i in range(300)]}})
    issues = lint_strict(enum)
    assert [(i.path, i.rule) for i in issues] == [("/properties/e/enum", "limit_enum")]
    assert issues[0].message == "a string enum of 300 values may total 15000 characters, this one has 18300"
    too_many = closed({"e": {"type": "integer", "enum": list(range(1001))}})
    assert rules(too_many) == [("", "limit_enum")]


def test_branches_sharing_their_first_key_are_reported() -> None:
    def branch(name: str, kind: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"name": {"type": "string", "const": name}, "value": {"type": kind}},
            "required": ["name", "value"],
            "additionalProperties": False,
        }

    schema = {
        "type": "object",
        "properties": {
            "attribute": {
                "anyOf": [branch("level", "integer"), branch("text", "string"), branch("level", "string")]
            }
        },
        "required": ["attribute"],
        "additionalProperties": False,
    }
    [issue] = lint_strict(schema)
    assert (issue.path, issue.rule) == ("/properties/attribute/anyOf/2", "shared_first_key")
    assert issue.message.startswith("branches 0 and 2 start with the same property 'name'")
