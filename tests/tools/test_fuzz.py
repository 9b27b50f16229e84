"""Property tests: no argument object makes a tool call raise, and the compiled validator agrees with
jsonschema (Draft 2020-12) on every instance."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mesh_tools.errors import SchemaError
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit, InMemorySource
from mesh_tools.tools._arguments import insertable_tags
from mesh_tools.tools._schema_check import compile_schema

from .examples import BOARD, rich

SCHEMAS = {"rich": rich(), "board": BOARD}

scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    scalars | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


def fitting_values(schema: MeshSchema, tag: str, name: str) -> st.SearchStrategy[Any]:
    prop = schema.element(tag).attributes[name]
    if prop.enum is not None:
        return st.sampled_from(prop.enum) | st.none()
    return (
        st.none()
        | {
            "string": st.text(max_size=4),
            "number": st.floats(-10, 10, allow_nan=False),
            "integer": st.integers(-3, 3),
            "boolean": st.booleans(),
            "null": st.none(),
        }[prop.type]
    )


@st.composite
def valid_elements(draw: st.DrawFn, schema: MeshSchema, tags: list[str], depth: int = 2) -> dict[str, Any]:
    """Elements that fit the advertised schema (the document may still refuse them: positions, parents)."""
    tag = draw(st.sampled_from(tags))
    element_type = schema.element(tag)
    element: dict[str, Any] = {"$tag": tag}
    for name in element_type.attributes:
        element[name] = draw(fitting_values(schema, tag, name))
    child = element_type.child_property
    if child is not None:
        allowed = list(dict.fromkeys(child.child_tag_names))
        children = st.lists(valid_elements(schema, allowed, depth - 1), max_size=2) if depth else st.just([])
        element[child.name] = draw(children)
    return element


@st.composite
def elements(draw: st.DrawFn, schema: MeshSchema, tags: list[str]) -> Any:
    """Valid elements, half of them then broken in one place: a key dropped, added or retyped, a tag."""
    element = draw(valid_elements(schema, tags))
    if draw(st.booleans()):
        return element
    nodes = [element]
    for node in nodes:
        nodes.extend(item for value in node.values() if isinstance(value, list) for item in value)
    node = draw(st.sampled_from(nodes))
    key = draw(st.sampled_from([*node, "$id", "extra"]))
    mutation = draw(st.sampled_from(["drop", "set", "tag"]))
    if mutation == "drop":
        node.pop(key, None)
    elif mutation == "set":
        node[key] = draw(json_values)
    else:
        node["$tag"] = draw(st.sampled_from([*schema.tag_names, "bogus"]))
    return element


@st.composite
def attributes(draw: st.DrawFn, schema: MeshSchema) -> dict[str, Any]:
    """``{"name", "value"}`` for some element's attribute, the value fitting or not."""
    tag = draw(st.sampled_from([element.tag_name for element in schema.elements if element.attributes]))
    name = draw(st.sampled_from(list(schema.element(tag).attributes)))
    fitting = fitting_values(schema, tag, name).filter(lambda value: value is not None)
    value = draw(st.one_of(fitting, fitting, fitting, scalars))
    return {"name": draw(st.sampled_from([name, name, "$id", "x"])), "value": value}


#: Stands for the id of the element the last successful append_child created.
LAST = "<last>"

ARGUMENTS = {
    "describe_document": ["id", "depth"],
    "append_child": ["parent_id", "position", "element"],
    "set_attribute": ["id", "attribute"],
    "remove_attribute": ["id", "name"],
    "delete_element": ["id"],
    "nope": [],
}


@st.composite
def tool_calls(draw: st.DrawFn, schema: MeshSchema) -> tuple[str, Any]:
    """A tool name and arguments: usually the tool's own keys, sometimes any subset, or any JSON."""
    ids = st.sampled_from(["root", "nope", LAST, LAST]) | st.text(max_size=3)
    names = [name for element in schema.elements for name in element.attributes] + ["$id", "x"]
    values = {
        "id": draw(ids),
        "parent_id": draw(ids),
        "depth": draw(st.none() | st.integers(-2, 3) if draw(st.integers(0, 5)) else scalars),
        "position": draw(st.none() | st.integers(-3, 4) if draw(st.integers(0, 5)) else scalars),
        "element": draw(elements(schema, insertable_tags(schema))),
        "name": draw(st.sampled_from(names) | scalars),
        "attribute": draw(attributes(schema) | json_values),
    }
    tool = draw(st.sampled_from(sorted(ARGUMENTS)))
    keys = ARGUMENTS[tool] if draw(st.integers(0, 4)) else draw(st.sets(st.sampled_from(sorted(values))))
    arguments: Any = {key: values[key] for key in keys}
    if not draw(st.integers(0, 15)):
        arguments = draw(json_values)
    return tool, arguments


async def run_calls(schema: MeshSchema, calls: list[tuple[str, Any]]) -> None:
    source = InMemorySource(schema)
    kit = DocumentToolkit(source, schema=schema, path="doc")
    last = "root"
    for tool, arguments in calls:
        if isinstance(arguments, dict):
            arguments = {key: last if value == LAST else value for key, value in arguments.items()}
        result = json.loads(await kit.call(tool, json.dumps(arguments)))
        assert isinstance(result, dict) and isinstance(result["ok"], bool)
        if result["ok"] and tool == "append_child":
            last = result["id"]
        if not result["ok"]:
            error = result["error"]
            assert set(error) <= {"code", "message", "hint"}
            assert all(isinstance(value, str) and value for value in error.values())
            assert error["code"] != "internal_error", error
    for document in source.documents.values():
        assert document.validate() == []


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schema_name=st.sampled_from(sorted(SCHEMAS)))
def test_no_call_raises_and_the_document_stays_valid(data: st.DataObject, schema_name: str) -> None:
    schema = SCHEMAS[schema_name]
    calls = data.draw(st.lists(tool_calls(schema), min_size=1, max_size=6))
    asyncio.run(run_calls(schema, calls))


@settings(max_examples=300)
@given(data=st.data(), schema_name=st.sampled_from(sorted(SCHEMAS)))
def test_the_compiled_validator_agrees_with_jsonschema(data: st.DataObject, schema_name: str) -> None:
    schema = SCHEMAS[schema_name]
    kit = DocumentToolkit(InMemorySource(schema), schema=schema, path=None)
    name, arguments = data.draw(tool_calls(schema))
    if isinstance(arguments, dict):
        arguments = {"path": "doc", **arguments}
    for tool in kit.tools:
        expected = Draft202012Validator(dict(tool.parameters)).is_valid(arguments)
        assert compile_schema(tool.parameters)(arguments) is expected, (tool.name, arguments)
        if tool.name == name:
            event(f"{name} valid={expected}")


#: Schemas using the rest of the vocabulary: unions without a discriminator or with shared consts,
#: recursion, length bounds, non-string enums, object keywords without an object type.
VOCABULARY = [
    {
        "type": "array",
        "items": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["a", "b"]}]},
        "minItems": 1,
        "maxItems": 3,
    },
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "v": {"enum": [1, "x", None, True]},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["v"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    },
    {"properties": {"a": {"const": 1.0}}, "required": ["a"]},
    {"type": ["number", "null"]},
    {
        "anyOf": [
            {
                "type": "object",
                "properties": {"k": {"type": "string", "const": "a"}, "x": {"type": "integer"}},
                "required": ["k", "x"],
            },
            {
                "type": "object",
                "properties": {"k": {"type": "string", "const": "a"}, "y": {"type": "boolean"}},
                "required": ["k", "y"],
            },
        ]
    },
]
vocabulary_values = st.recursive(
    scalars | st.sampled_from(["a", "b", "x", "k", "v"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "k", "x", "y", "v", "kids", "z"]), inner, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=500)
@given(value=vocabulary_values)
def test_the_compiled_validator_agrees_with_jsonschema_on_the_whole_vocabulary(value: Any) -> None:
    for schema in VOCABULARY:
        assert compile_schema(schema)(value) is Draft202012Validator(schema).is_valid(value), (schema, value)


def test_the_validator_refuses_keywords_it_does_not_implement() -> None:
    with pytest.raises(SchemaError, match=r"keywords \['minLength'\] are not supported"):
        compile_schema({"type": "string", "minLength": 1})
    with pytest.raises(SchemaError, match=r"\$ref '#/\$defs/missing' does not point into \$defs"):
        compile_schema({"$ref": "#/$defs/missing"})
