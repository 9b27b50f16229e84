"""The MCP Inspector CLI (npm, installed by scripts/deps-mcp-inspector.sh) calls every tool of
`mesh-tools mcp` serving a live room document: the form-building client that strict-style schemas broke."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .examples import rich
from .live_room import LiveRoom

INSPECTOR = (
    Path(__file__).parents[2] / "scripts" / "mcp-inspector" / "node_modules" / ".bin" / "mcp-inspector"
)


async def inspect(server: list[str], env: dict[str, str], *request: str) -> Any:
    """One Inspector CLI request against a fresh `mesh-tools mcp` process; its JSON answer."""
    variables = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
    process = await asyncio.create_subprocess_exec(
        str(INSPECTOR),
        "--cli",
        *variables,
        *server,
        *request,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    return json.loads(text[text.index("{") :])


def answer(result: Any) -> Any:
    assert result["isError"] is False, result
    return result["structuredContent"]


@pytest.mark.slow
@pytest.mark.skipif(not INSPECTOR.exists(), reason="run scripts/deps-mcp-inspector.sh (make test does)")
async def test_the_inspector_lists_and_calls_every_tool(tmp_path: Path, live_room: LiveRoom) -> None:
    schema_file = tmp_path / "rich.json"
    schema_file.write_text(json.dumps(rich().to_json()))
    server = [sys.executable, "-m", "mesh_tools", "mcp", "--room", live_room.name]
    server += ["--schema", str(schema_file), "--path", "plan.doc"]
    env = {"MESH_TOOLS_SECRET": live_room.secret, "MESH_TOOLS_URL": live_room.server.url}

    def call(tool: str, **arguments: Any) -> Any:
        pairs = [
            f"{name}={json.dumps(value) if not isinstance(value, str) else value}"
            for name, value in arguments.items()
        ]
        tool_args = [part for pair in pairs for part in ("--tool-arg", pair)]
        return inspect(server, env, "--method", "tools/call", "--tool-name", tool, *tool_args)

    listed = await inspect(server, env, "--method", "tools/list")
    assert [tool["name"] for tool in listed["tools"]] == [
        "describe_document",
        "append_child",
        "set_attribute",
        "remove_attribute",
        "delete_element",
        "search_elements",
        "changes_since",
        "wait_for_changes",
    ]
    read = answer(await call("describe_document", id="root"))
    assert read["element"] == {"$tag": "document", "$id": "root", "blocks": []}
    paragraph = {"$tag": "paragraph", "text": "Ship it", "style": "note"}
    created = answer(await call("append_child", parent_id="root", element=paragraph))
    element_id = created["id"]
    edited = answer(await call("set_attribute", id=element_id, attribute={"name": "text", "value": "Done"}))
    assert edited["previous"] == "Ship it"
    assert answer(await call("remove_attribute", id=element_id, name="style"))["previous"] == "note"
    found = answer(await call("search_elements", text="done"))
    assert [(match["id"], match["path"]) for match in found["matches"]] == [(element_id, "/paragraph[0]")]
    # Each Inspector request is a new `mesh-tools mcp` process, whose feed starts when it connects: a
    # version from before the edits is older than its log and refused, naming why; a current one works.
    stale = await call("changes_since", version=read["version"])
    assert stale["isError"] is True and "older than this replica's change log" in stale["content"][0]["text"]
    current = answer(await call("describe_document", id="root"))["version"]
    assert answer(await call("changes_since", version=current))["changes"] == []
    assert answer(await call("wait_for_changes", version=current, timeout=0))["changes"] == []
    assert answer(await call("delete_element", id=element_id))["deleted"] == 1
    resources = await inspect(server, env, "--method", "resources/list")
    assert [resource["uri"] for resource in resources["resources"]] == ["mesh://plan.doc"]
    document = await inspect(server, env, "--method", "resources/read", "--uri", "mesh://plan.doc")
    assert json.loads(document["contents"][0]["text"])["element"]["blocks"] == []
