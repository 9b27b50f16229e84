"""Tool definitions: exact shapes, strict-mode compatibility, names, and the non-strict fallback."""

from __future__ import annotations

import copy
import json
import logging
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents.strict_schema import ensure_strict_json_schema

from mesh_tools.errors import SchemaError
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.tools import DocumentToolkit, FunctionToolkit, InMemorySource, lint_strict

from .examples import BOARD, HTML, HTML_RESPONSES_TOOLS, args, loads, rich

#: The tools every document toolkit adds after its edit tools: search and the change feed.
READ_TOOLS = ("search_elements", "changes_since", "wait_for_changes")


def toolkit(schema: MeshSchema, path: str | None = "doc", **options: Any) -> DocumentToolkit:
    return DocumentToolkit(InMemorySource(schema), schema=schema, path=path, **options)


def test_html_tools_exactly() -> None:
    kit = toolkit(HTML, "page.html")
    assert kit.responses_tools() == HTML_RESPONSES_TOOLS
    assert kit.chat_completions_tools() == [
        {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool["description"],
                "parameters": tool["parameters"],
                "strict": True,
            },
        }
        for tool in HTML_RESPONSES_TOOLS
    ]


def test_without_a_path_every_tool_takes_one_first_and_open_document_exists() -> None:
    kit = toolkit(HTML, None)
    assert kit.names == [
        "open_document",
        "describe_document",
        "append_child",
        "set_attribute",
        "remove_attribute",
        "delete_element",
        "move_element",
        "apply_edits",
        "undo",
        *READ_TOOLS,
    ]
    for tool, bound in zip(kit.responses_tools()[1:], HTML_RESPONSES_TOOLS, strict=True):
        parameters = tool["parameters"]
        assert list(parameters["properties"]) == ["path", *bound["parameters"]["properties"]]
        assert parameters["properties"]["path"] == {"type": "string"}
        assert parameters["required"] == ["path", *bound["parameters"]["required"]]
    assert kit.responses_tools()[0]["parameters"] == {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize("schema", [HTML, rich(), BOARD], ids=["html", "rich", "board"])
@pytest.mark.parametrize("path", ["doc", None], ids=["bound", "unbound"])
def test_every_tool_is_strict_and_openai_agents_leaves_it_unchanged(
    schema: MeshSchema, path: str | None
) -> None:
    kit = toolkit(schema, path)
    assert kit.strict_issues == {}
    for tool in kit.tools:
        assert tool.strict
        assert lint_strict(tool.parameters) == []
        assert ensure_strict_json_schema(copy.deepcopy(dict(tool.parameters))) == tool.parameters


def test_element_definitions_follow_the_document_shape() -> None:
    parameters = toolkit(BOARD).tools[1].parameters
    defs = parameters["$defs"]
    assert list(defs) == ["column", "card", "summary", "checklist", "check"]  # the root cannot be inserted
    assert parameters["properties"]["element"] == {"anyOf": [{"$ref": f"#/$defs/{tag}"} for tag in defs]}
    column = defs["column"]
    assert column["required"] == ["$tag", "name", "wip_limit", "cards"]
    assert column["properties"] == {
        "$tag": {"type": "string", "const": "column"},
        "name": {"type": ["string", "null"]},
        "wip_limit": {"type": ["integer", "null"], "description": "most cards allowed"},
        "cards": {"type": "array", "items": {"$ref": "#/$defs/card"}},
    }
    card = defs["card"]["properties"]
    assert card["priority"] == {"type": ["string", "null"], "enum": ["low", "medium", "high", None]}
    # MeshAgent's positional prefixItems become a union with a length cap; the document checks order.
    assert card["parts"] == {
        "type": "array",
        "items": {"anyOf": [{"$ref": "#/$defs/summary"}, {"$ref": "#/$defs/checklist"}]},
        "maxItems": 2,
    }


def test_attribute_branches_are_shared_per_name_and_type() -> None:
    attribute = toolkit(rich()).tools[2].parameters["properties"]["attribute"]
    branches = [(b["properties"]["name"]["const"], b["properties"]["value"]) for b in attribute["anyOf"]]
    assert branches == [
        ("title", {"type": "string"}),
        ("text", {"type": "string"}),
        ("level", {"type": "number"}),
        ("style", {"type": "string", "enum": ["normal", "quote", "note"]}),
        ("ordered", {"type": "boolean"}),
        ("done", {"type": "boolean"}),
        ("caption", {"type": "string"}),
    ]
    names = toolkit(rich()).tools[3].parameters["properties"]["name"]
    assert names == {
        "type": "string",
        "enum": ["title", "text", "level", "style", "ordered", "done", "caption"],
    }


def test_schemas_without_attributes_or_children_get_only_the_tools_that_apply() -> None:
    bare = MeshSchema(
        root_tag_name="list",
        elements=[
            ElementType(tag_name="list", properties=[ChildProperty(name="items", child_tag_names=["item"])]),
            ElementType(tag_name="item"),
        ],
    )
    assert toolkit(bare).names == [
        "describe_document",
        "append_child",
        "delete_element",
        "move_element",
        "apply_edits",
        "undo",
        *READ_TOOLS,
    ]
    lonely = MeshSchema(
        root_tag_name="note",
        elements=[ElementType(tag_name="note", properties=[ValueProperty(name="t", type="string")])],
    )
    assert toolkit(lonely).names == [
        "describe_document",
        "set_attribute",
        "remove_attribute",
        "delete_element",
        "undo",
        *READ_TOOLS,
    ]


def test_tool_names_are_checked_and_collisions_detected() -> None:
    with pytest.raises(SchemaError, match=r"invalid tool name 'html\.describe_document'") as caught:
        toolkit(HTML, prefix="html.")
    assert caught.value.hint == "use 1 to 64 letters, digits, '_' or '-' (no dots or spaces)"
    with pytest.raises(SchemaError, match="invalid tool name"):
        toolkit(HTML, prefix="x" * 50)
    html, board = toolkit(HTML), toolkit(BOARD)
    with pytest.raises(SchemaError, match="two tools are named 'describe_document'"):
        FunctionToolkit([*html.tools, *board.tools])
    combined = FunctionToolkit([*toolkit(HTML, prefix="html_").tools, *toolkit(BOARD, prefix="board-").tools])
    assert combined.names[:2] == ["html_describe_document", "html_append_child"]
    assert "board-set_attribute" in combined.names


def deep_schema(levels: int) -> MeshSchema:
    elements = [
        ElementType(tag_name=f"e{i}", properties=[ChildProperty(name="c", child_tag_names=[f"e{i + 1}"])])
        for i in range(levels)
    ]
    elements.append(ElementType(tag_name=f"e{levels}", properties=[ValueProperty(name="v", type="integer")]))
    return MeshSchema(root_tag_name="e0", elements=elements)


def chain(level: int, last: int, value: Any) -> dict[str, Any]:
    """An element e<level> holding e<level+1> ... down to e<last> with v = value."""
    if level == last:
        return {"$tag": f"e{level}", "v": value}
    return {"$tag": f"e{level}", "c": [chain(level + 1, last, value)]}


async def test_a_schema_too_deep_for_strict_mode_falls_back_and_still_validates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each tree level costs an object and an array: e1..e5 under the arguments object fit in 10.
    assert toolkit(deep_schema(5)).strict_issues == {}
    with caplog.at_level(logging.WARNING, logger="mesh_tools.tools"):
        kit = toolkit(deep_schema(6))
    issues = kit.strict_issues
    assert list(issues) == ["append_child"]
    assert [(i.path, i.rule, i.message) for i in issues["append_child"]] == [
        (
            "/properties/element/anyOf/0/properties/c/items/properties/c/items/properties/c/items/properties/c"
            "/items/properties/c/items",
            "limit_depth",
            "12 levels of nesting exceed the limit of 10",
        )
    ]
    assert "tool append_child is not strict-compatible" in caplog.text
    definition = next(t for t in kit.responses_tools() if t["name"] == "append_child")
    assert definition["strict"] is False
    # apply_edits builds subtrees from flat inserts, so it stays strict where append_child cannot.
    assert [t["function"]["strict"] for t in kit.chat_completions_tools()] == [
        True,
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
    ]
    nested = chain(1, 6, 1)
    ok = loads(await kit.call("append_child", args(parent_id="root", position=None, element=nested)))
    assert ok["ok"] is True and list(ok["ids"].values()) == ["e1", "e2", "e3", "e4", "e5", "e6"]
    bad = chain(1, 6, "one")
    error = loads(await kit.call("append_child", args(parent_id="root", position=None, element=bad)))
    assert error == {
        "ok": False,
        "error": {
            "code": "invalid_value",
            "message": '/element/c/0/c/0/c/0/c/0/c/0/v: "one" is not a valid value for e6.v',
            "hint": "expected v: integer, or null to leave it unset",
        },
    }


def test_agents_is_openai_agents_not_a_package_of_ours() -> None:
    import agents

    packages = [Path(p).resolve() for p in site.getsitepackages()]
    assert any(Path(agents.__file__).resolve().is_relative_to(p) for p in packages), agents.__file__


def test_the_registry_imports_no_agent_sdk() -> None:
    code = (
        "import sys, mesh_tools.tools\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('agents', 'mcp')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.replace("'", '"')) == []


async def test_an_attribute_with_two_types_gets_one_branch_whose_value_is_their_union() -> None:
    schema = MeshSchema(
        root_tag_name="doc",
        elements=[
            ElementType(tag_name="doc", properties=[ChildProperty(name="parts", child_tag_names=["a", "b"])]),
            ElementType(tag_name="a", properties=[ValueProperty(name="level", type="integer")]),
            ElementType(tag_name="b", properties=[ValueProperty(name="level", type="string")]),
        ],
    )
    kit = toolkit(schema)
    setter = next(tool for tool in kit.tools if tool.name == "set_attribute")
    assert setter.strict_issues == ()
    assert setter.parameters["properties"]["attribute"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "const": "level"},
            "value": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["name", "value"],
        "additionalProperties": False,
    }
    created = loads(
        await kit.call(
            "append_child", args(parent_id="root", position=None, element={"$tag": "b", "level": None})
        )
    )
    ok = loads(
        await kit.call("set_attribute", args(id=created["id"], attribute={"name": "level", "value": "high"}))
    )
    assert ok["ok"] is True
    wrong = loads(
        await kit.call("set_attribute", args(id=created["id"], attribute={"name": "level", "value": 3}))
    )
    assert wrong["error"]["code"] == "invalid_value"
