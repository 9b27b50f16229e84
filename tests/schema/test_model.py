"""MeshSchema: MeshAgent's JSON shape, lossless round trips, and construction errors that explain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.errors import SchemaError

from ..fixtures import RICH_FIXTURE
from .schemas import rich_schema, seed_schema


def test_seed_schema_to_json_has_meshagent_shape() -> None:
    data = seed_schema().to_json()
    assert data["$root_tag_ref"] == "#/$defs/html"
    assert data["required"] == ["html"]
    assert data["properties"]["html"]["properties"]["children"] == {
        "type": "array",
        "items": {"anyOf": [{"$ref": "#/$defs/body"}]},
    }
    assert data["$defs"]["html"] == {k: v for k, v in data.items() if k not in ("$root_tag_ref", "$defs")}
    assert data["$defs"]["p"]["properties"]["p"] == {
        "type": "object",
        "additionalProperties": False,
        "required": ["class"],
        "properties": {"class": {"type": "string"}},
    }
    assert list(data) == ["$root_tag_ref", "type", "additionalProperties", "required", "properties", "$defs"]


def test_rich_fixture_round_trips_exactly() -> None:
    fixture = json.loads(RICH_FIXTURE.read_text())
    assert MeshSchema.from_json(fixture).to_json() == fixture
    assert rich_schema().to_json() == fixture
    assert MeshSchema.from_file(RICH_FIXTURE) == rich_schema()


def test_descriptions_enums_and_ordered_children_round_trip() -> None:
    schema = MeshSchema(
        root_tag_name="thread",
        elements=[
            ElementType(
                tag_name="thread",
                description="a conversation",
                properties=[
                    ChildProperty(name="turns", child_tag_names=["q", "a"], ordered=True, description="q, a")
                ],
            ),
            ElementType(
                tag_name="q",
                properties=[
                    ValueProperty(name="mood", type="string", enum=["calm", "angry"], description="tone")
                ],
            ),
            ElementType(
                tag_name="a", properties=[ValueProperty(name="score", type="integer", enum=[1, 2, 3])]
            ),
        ],
    )
    data = schema.to_json()
    assert data["description"] == "a conversation"
    assert data["properties"]["thread"]["properties"]["turns"] == {
        "type": "array",
        "prefixItems": [{"$ref": "#/$defs/q"}, {"$ref": "#/$defs/a"}],
        "items": False,
        "description": "q, a",
    }
    again = MeshSchema.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert again.element("q").attributes["mood"].enum == ("calm", "angry")
    assert again.element("thread").child_property is not None
    assert again.element("thread").child_property.ordered


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: MeshSchema(root_tag_name="nope", elements=[ElementType(tag_name="a")]), "root tag 'nope'"),
        (
            lambda: MeshSchema(
                root_tag_name="a", elements=[ElementType(tag_name="a"), ElementType(tag_name="a")]
            ),
            "defined twice",
        ),
        (
            lambda: MeshSchema(
                root_tag_name="a",
                elements=[
                    ElementType(tag_name="a", properties=[ChildProperty(name="c", child_tag_names=["zz"])])
                ],
            ),
            "undefined tags: zz",
        ),
        (lambda: ChildProperty(name="c", child_tag_names=[]), "allows no child tags"),
        (lambda: ChildProperty(name="c", child_tag_names="p"), "must be a list"),
        (
            lambda: ElementType(
                tag_name="a",
                properties=[
                    ChildProperty(name="x", child_tag_names=["a"]),
                    ChildProperty(name="y", child_tag_names=["a"]),
                ],
            ),
            "2 child properties",
        ),
        (
            lambda: ElementType(
                tag_name="a",
                properties=[ValueProperty(name="x", type="string"), ValueProperty(name="x", type="number")],
            ),
            "property 'x' twice",
        ),
        (
            lambda: ElementType(tag_name="a", properties=[ValueProperty(name="$id", type="string")]),
            "invalid property",
        ),
        (lambda: ValueProperty(name="x", type="str"), "unknown type 'str'"),  # type: ignore[arg-type]
        (lambda: ValueProperty(name="x", type="number", enum=["a"]), "not of type 'number'"),
        (lambda: ValueProperty(name="x", type="string", enum=[]), "empty enum"),
        (lambda: ElementType(tag_name="has space"), "invalid tag name"),
        (lambda: MeshSchema.from_json({"$defs": {}}), "$root_tag_ref"),
        (
            lambda: MeshSchema.from_json(
                {
                    "$root_tag_ref": "#/$defs/a",
                    "$defs": {"a": {"properties": {"a": {"properties": {"x": {}}}}}},
                }
            ),
            "has no 'type'",
        ),
    ],
)
def test_invalid_schemas_are_rejected_with_a_reason(build: Any, fragment: str) -> None:
    with pytest.raises(SchemaError) as info:
        build()
    assert fragment in str(info.value)
    assert info.value.code == "invalid_schema"


def test_from_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match=r"bad\.json"):
        MeshSchema.from_file(bad)


# -- property: any valid schema survives JSON -----------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
_types = st.sampled_from(["string", "number", "integer", "boolean"])


@st.composite
def _value_properties(draw: st.DrawFn, name: str) -> ValueProperty:
    type_ = draw(_types)
    enum: list[Any] | None = None
    if type_ != "boolean" and draw(st.booleans()):
        pool = {
            "string": st.text(min_size=1, max_size=5),
            "number": st.floats(allow_nan=False, allow_infinity=False, width=32),
            "integer": st.integers(-1000, 1000),
        }[type_]
        enum = draw(st.lists(pool, min_size=1, max_size=4, unique=True))
    description = draw(st.none() | st.text(max_size=20))
    return ValueProperty(name=name, type=type_, enum=enum, description=description or None)  # type: ignore[arg-type]


@st.composite
def schemas(draw: st.DrawFn) -> MeshSchema:
    tags = draw(st.lists(_names, min_size=1, max_size=6, unique=True))
    elements = []
    for tag in tags:
        prop_names = draw(st.lists(_names, max_size=4, unique=True))
        properties: list[Any] = [draw(_value_properties(name)) for name in prop_names[1:]]
        if prop_names and draw(st.booleans()):
            ordered = draw(st.booleans())
            children = draw(
                st.lists(st.sampled_from(tags), min_size=1, max_size=4, unique=not ordered)
                if ordered
                else st.lists(st.sampled_from(tags), min_size=1, max_size=4, unique=True)
            )
            properties.insert(0, ChildProperty(name=prop_names[0], child_tag_names=children, ordered=ordered))
        elements.append(
            ElementType(tag_name=tag, properties=properties, description=draw(st.none() | _names))
        )
    return MeshSchema(root_tag_name=draw(st.sampled_from(tags)), elements=elements)


@settings(max_examples=150)
@given(schemas())
def test_random_valid_schemas_round_trip_through_json(schema: MeshSchema) -> None:
    text = json.dumps(schema.to_json())
    again = MeshSchema.from_json(json.loads(text))
    assert again.to_json() == schema.to_json()
    assert again == schema
    for element in schema.elements:
        assert again.element(element.tag_name).properties == element.properties
