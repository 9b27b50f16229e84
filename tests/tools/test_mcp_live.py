"""`mesh-tools mcp` as a subprocess on stdio, connected to a live room, driven by mcp.Client."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import mcp
import pytest
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPDeprecationWarning

from mesh_tools.cli import build_parser
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit
from mesh_tools.tools._mcp_schema import optional_fields_schema

from .examples import HTML, HTML_RESPONSES_TOOLS, rich
from .live_room import LiveRoom


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(["mcp", "--room", "r", "--schema", "s.json", "--path", "p.html"])
    assert (args.command, args.room, args.schema, args.path, args.url) == (
        "mcp",
        "r",
        "s.json",
        "p.html",
        None,
    )


def mcp_command(tmp_path: Path, live_room: LiveRoom, schema: MeshSchema, path: str) -> StdioServerParameters:
    """`mesh-tools mcp` on one document of the live room, as an MCP client launches it."""
    schema_file = tmp_path / f"{schema.root_tag_name}.json"
    schema_file.write_text(json.dumps(schema.to_json()))
    return StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mesh_tools",
            "mcp",
            "--room",
            live_room.name,
            "--schema",
            str(schema_file),
            "--path",
            path,
        ],
        env={**os.environ, "MESH_TOOLS_SECRET": live_room.secret, "MESH_TOOLS_URL": live_room.server.url},
    )


async def test_mcp_command_serves_a_room_document_on_stdio(tmp_path: Path, live_room: LiveRoom) -> None:
    command = mcp_command(tmp_path, live_room, HTML, "page.html")
    async with mcp.Client(command) as client:
        listed = (await client.list_tools()).tools
        created = await client.call_tool(
            "append_child",
            {"parent_id": "root", "position": None, "element": {"$tag": "body", "children": []}},
        )
        refused = await client.call_tool(
            "append_child",
            {"parent_id": "root", "position": None, "element": {"$tag": "p", "class": None}},
        )
    assert [(t.name, t.description, t.input_schema) for t in listed] == [
        (t["name"], t["description"], optional_fields_schema(t["parameters"])) for t in HTML_RESPONSES_TOOLS
    ]
    assert created.is_error is False
    assert refused.is_error is True
    assert [json.loads(c.text)["error"]["message"] for c in refused.content if c.type == "text"] == [
        "<p> is not allowed inside <html>"
    ]
    # The command closed its document on exit, which flushed the edit to the server.
    (body_id,) = [json.loads(c.text)["id"] for c in created.content if c.type == "text"]
    async with live_room.participant("reader") as room:
        assert await room.sync.describe("page.html") == {
            "html": {"$id": "root", "children": [{"body": {"$id": body_id, "children": []}}]}
        }


async def test_an_mcp_client_on_a_live_room_hears_of_others_edits_without_reading_again(
    tmp_path: Path, live_room: LiveRoom
) -> None:
    command = mcp_command(tmp_path, live_room, rich(), "mcp.doc")
    updated = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, mcp.types.ResourceUpdatedNotification):
            updated.set()

    async with (
        live_room.participant("bob") as bob_room,
        mcp.Client(command, mode="legacy", message_handler=on_message) as client,
    ):
        read = await client.call_tool("describe_document", {"id": "root", "depth": 0})
        version = read.structured_content["version"]
        with pytest.warns(MCPDeprecationWarning):
            await client.subscribe_resource("mesh://mcp.doc")
        async with DocumentToolkit(bob_room, schema=rich(), path="mcp.doc") as bob:
            await bob.call(
                "set_attribute", json.dumps({"id": "root", "attribute": {"name": "title", "value": "Bob's"}})
            )
        # A push over MCP (resources/updated), then the feed says who did what, by the token's name.
        await asyncio.wait_for(updated.wait(), 10)
        feed = await client.call_tool("changes_since", {"version": version})
    changes = feed.structured_content["changes"]
    assert [(c["op"], c["by"], c["value"]) for c in changes] == [("set", "bob", "Bob's")]
