"""The toolkit as a low-level MCP server, driven by an in-memory mcp.Client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import mcp
import pytest
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.subscriptions import ResourceUpdated

from mesh_tools.tools import DocumentToolkit, InMemorySource, schema_summary
from mesh_tools.tools._mcp_server import DEFAULT_INSTRUCTIONS, OUTPUT_SCHEMA

from ..support.replicas import replica_of
from .examples import BOARD, rich


async def test_tools_are_listed_the_mcp_way_with_optional_fields_annotations_and_output_schemas() -> None:
    kit = DocumentToolkit(InMemorySource(BOARD), schema=BOARD)
    async with mcp.Client(kit.mcp_server()) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert client.instructions is not None
        assert client.instructions.startswith(DEFAULT_INSTRUCTIONS)
        assert schema_summary(BOARD) in client.instructions
    assert list(listed) == kit.names
    assert listed["describe_document"].input_schema == {
        "type": "object",
        "properties": {"path": {"type": "string"}, "id": {"type": "string"}, "depth": {"type": "integer"}},
        "required": ["path", "id"],
        "additionalProperties": False,
    }
    card = listed["append_child"].input_schema["$defs"]["card"]
    assert card["required"] == ["$tag", "parts"]
    assert card["properties"]["priority"] == {"type": "string", "enum": ["low", "medium", "high"]}
    assert "if_unchanged_since" not in listed["delete_element"].input_schema["required"]
    hints = {
        name: (t.annotations.read_only_hint, t.annotations.destructive_hint, t.annotations.idempotent_hint)
        for name, t in listed.items()
        if t.annotations is not None
    }
    assert hints == {
        "open_document": (True, False, True),
        "describe_document": (True, False, False),
        "append_child": (False, False, False),
        "set_attribute": (False, True, True),
        "remove_attribute": (False, True, True),
        "delete_element": (False, True, False),
        "move_element": (False, True, False),
        "apply_edits": (False, True, False),
        "undo": (False, True, False),
        "search_elements": (True, False, False),
        "changes_since": (True, False, False),
        "wait_for_changes": (True, False, False),
    }
    assert all(t.output_schema == OUTPUT_SCHEMA for t in listed.values())
    # The OpenAI adapters stay strict: every property required, optional ones nullable.
    strict = next(t for t in kit.responses_tools() if t["name"] == "describe_document")
    assert strict["parameters"]["required"] == ["path", "id", "depth"]


async def test_a_call_may_leave_out_every_optional_field() -> None:
    source = InMemorySource(BOARD)
    kit = DocumentToolkit(source, schema=BOARD, path="b.board")
    async with mcp.Client(kit.mcp_server()) as client:
        card = {"$tag": "card", "title": "Ship", "parts": [{"$tag": "summary", "text": "soon"}]}
        column = {"$tag": "column", "name": "todo", "cards": [card]}
        inserted = await client.call_tool("append_child", {"parent_id": "root", "element": column})
        read = await client.call_tool("describe_document", {"id": "root"})
    assert inserted.is_error is False, inserted.content
    assert inserted.structured_content is not None and inserted.structured_content["ok"] is True
    assert read.structured_content is not None
    assert [c["name"] for c in read.structured_content["element"]["columns"]] == ["todo"]
    assert source.documents["b.board"].to_json() == {
        "board": {
            "columns": [
                {
                    "column": {
                        "name": "todo",
                        "cards": [{"card": {"title": "Ship", "parts": [{"summary": {"text": "soon"}}]}}],
                    }
                }
            ]
        }
    }


async def test_calls_succeed_and_errors_come_back_flagged() -> None:
    source = InMemorySource(rich())
    kit = DocumentToolkit(source, schema=rich(), path=None, allow_create=True)
    async with mcp.Client(kit.mcp_server(name="docs", instructions="Edit notes.")) as client:
        assert client.server_info is not None and client.server_info.name == "docs"
        assert client.instructions == "Edit notes."
        ok = await client.call_tool(
            "append_child",
            {
                "path": "notes",
                "parent_id": "root",
                "position": None,
                "element": {"$tag": "paragraph", "text": "hello", "style": "note"},
            },
        )
        bad = await client.call_tool(
            "set_attribute", {"path": "notes", "id": "root", "attribute": {"name": "style", "value": "loud"}}
        )
        unknown = await client.call_tool("rename", {})
    assert ok.is_error is False
    (content,) = ok.content
    assert content.type == "text"
    result = json.loads(content.text)
    assert result == {
        "ok": True,
        "id": result["id"],
        "ids": {result["id"]: "paragraph"},
        "version": result["version"],
    }
    assert ok.structured_content == result
    assert source.documents["notes"].to_json() == {
        "document": {"blocks": [{"paragraph": {"text": "hello", "style": "note"}}]}
    }
    assert bad.is_error is True
    assert [json.loads(c.text) for c in bad.content if c.type == "text"] == [
        {
            "ok": False,
            "error": {
                "code": "invalid_value",
                "message": "/attribute/value: \"loud\" is not a valid value for 'style'",
                "hint": 'expected style: one of "normal", "quote", "note" on <paragraph>',
            },
        }
    ]
    assert unknown.is_error is True
    assert [json.loads(c.text)["error"]["code"] for c in unknown.content if c.type == "text"] == [
        "invalid_operation"
    ]


async def test_unbound_tools_stay_inside_their_paths_and_open_only_existing_documents() -> None:
    source = InMemorySource(rich())
    await source.open("team/plan.doc")
    kit = DocumentToolkit(source, schema=rich(), paths=["team/*"])
    async with mcp.Client(kit.mcp_server()) as client:
        opened = await client.call_tool("open_document", {"path": "team/plan.doc"})
        missing = await client.call_tool("open_document", {"path": "team/new.doc"})
        outside = await client.call_tool("open_document", {"path": "secret/plan.doc"})
    assert opened.is_error is False
    assert missing.structured_content == {
        "ok": False,
        "error": {
            "code": "document_not_found",
            "message": "there is no document at team/new.doc",
            "hint": "open an existing document; this toolkit may not create any",
        },
    }
    assert outside.structured_content == {
        "ok": False,
        "error": {
            "code": "forbidden",
            "message": "secret/plan.doc is outside this toolkit's paths",
            "hint": "use a path matching team/*",
        },
    }
    assert set(source.documents) == {"team/plan.doc"}


async def test_documents_are_resources_and_subscribers_hear_of_others_edits() -> None:
    source = InMemorySource(rich())
    kit = DocumentToolkit(source, schema=rich(), path="plan.doc")
    notices: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, mcp.types.ResourceUpdatedNotification):
            notices.append(str(message.params.uri))

    async with mcp.Client(kit.mcp_server(), mode="legacy", message_handler=on_message) as client:
        [resource] = (await client.list_resources()).resources
        assert (str(resource.uri), resource.mime_type) == ("mesh://plan.doc", "application/json")
        [template] = (await client.list_resource_templates()).resource_templates
        assert template.uri_template == "mesh://{path}"
        with pytest.warns(MCPDeprecationWarning):
            await client.subscribe_resource("mesh://plan.doc")
        other = replica_of(source.documents["plan.doc"])
        other.root.set_attribute("title", "Plan")
        for _ in range(100):
            if notices:
                break
            await asyncio.sleep(0.01)
        read = await client.read_resource("mesh://plan.doc")
        with pytest.raises(MCPError, match=r"serves plan\.doc"):
            await client.read_resource("mesh://other.doc")
    assert notices == ["mesh://plan.doc"]
    [content] = read.contents
    assert isinstance(content, mcp.types.TextResourceContents)
    assert json.loads(content.text)["element"] == {
        "$tag": "document",
        "$id": "root",
        "title": "Plan",
        "blocks": [],
    }


async def test_listeners_on_the_2026_wire_get_resource_updates() -> None:
    source = InMemorySource(rich())
    kit = DocumentToolkit(source, schema=rich(), path="plan.doc")
    async with mcp.Client(kit.mcp_server()) as client:
        await client.read_resource("mesh://plan.doc")
        async with client.listen(resource_subscriptions=["mesh://plan.doc"]) as subscription:
            replica_of(source.documents["plan.doc"]).root.set_attribute("title", "Plan")
            event = await asyncio.wait_for(anext(aiter(subscription)), 5)
    assert event == ResourceUpdated(uri="mesh://plan.doc")
