"""The toolkit as a low-level MCP server, driven by an in-memory mcp.Client."""

from __future__ import annotations

import json

import mcp

from mesh_tools.tools import DocumentToolkit, InMemorySource
from mesh_tools.tools._mcp_server import DEFAULT_INSTRUCTIONS

from .examples import BOARD, rich


async def test_tools_are_listed_with_their_schemas_verbatim() -> None:
    kit = DocumentToolkit(InMemorySource(BOARD), schema=BOARD)
    async with mcp.Client(kit.mcp_server()) as client:
        listed = (await client.list_tools()).tools
        assert client.instructions == DEFAULT_INSTRUCTIONS
    assert [(t.name, t.description, t.input_schema) for t in listed] == [
        (t.name, t.description, dict(t.parameters)) for t in kit.tools
    ]


async def test_calls_succeed_and_errors_come_back_flagged() -> None:
    source = InMemorySource(rich())
    kit = DocumentToolkit(source, schema=rich(), path=None)
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
    assert result == {"ok": True, "id": result["id"], "ids": {result["id"]: "paragraph"}}
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
