"""Versions and change feeds: changes_since, wait_for_changes, if_unchanged_since, and who did what."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.testing import ScriptedModel, assistant_message, function_call

from mesh_tools.document import MeshDocument
from mesh_tools.tools import DocumentToolkit, InMemorySource

from ..support.replicas import replica_of
from .examples import args, loads, rich


async def call(kit: DocumentToolkit, tool: str, /, **arguments: Any) -> Any:
    return loads(await kit.call(tool, args(**arguments)))


def two_participants() -> tuple[DocumentToolkit, DocumentToolkit, MeshDocument]:
    """Toolkits of "writer" and "reviewer" over two replicas of one document (the writer's returned)."""
    source = InMemorySource(rich())
    mine = MeshDocument(schema=rich())
    source.documents["doc"] = mine
    theirs = InMemorySource(rich())
    theirs.documents["doc"] = replica_of(mine)
    writer = DocumentToolkit(source, schema=rich(), path="doc", participant="writer")
    reviewer = DocumentToolkit(theirs, schema=rich(), path="doc", participant="reviewer")
    return writer, reviewer, mine


PARAGRAPH = {"$tag": "paragraph", "text": "draft", "style": None}


def retitled_by_reviewer(title: str) -> dict[str, Any]:
    """The feed's entry for the reviewer setting the document's title."""
    return {
        "op": "set",
        "id": "root",
        "tag": "document",
        "by": "reviewer",
        "path": "/",
        "name": "title",
        "value": title,
    }


async def test_changes_since_reports_others_edits_folded_with_who_and_where() -> None:
    writer, reviewer, _ = two_participants()
    read = await call(writer, "describe_document", id="root", depth=None)
    kept = await call(reviewer, "append_child", parent_id="root", position=None, element=PARAGRAPH)
    gone = await call(reviewer, "append_child", parent_id="root", position=None, element=PARAGRAPH)
    await call(reviewer, "set_attribute", id=kept["id"], attribute={"name": "text", "value": "final"})
    await call(reviewer, "delete_element", id=gone["id"])
    await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "A"})
    await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "B"})
    feed = await call(writer, "changes_since", version=read["version"])
    assert feed["changes"] == [
        {
            "op": "insert",
            "id": kept["id"],
            "tag": "paragraph",
            "by": "reviewer",
            "path": "/paragraph[0]",
            "parent": "root",
            "element": {"$tag": "paragraph", "$id": kept["id"], "text": "final"},
        },
        retitled_by_reviewer("B"),
    ]
    again = await call(writer, "changes_since", version=feed["version"])
    assert again["changes"] == []
    assert again["version"] == feed["version"]
    # The agent's own edits are not news to it.
    await call(writer, "set_attribute", id="root", attribute={"name": "title", "value": "C"})
    assert (await call(writer, "changes_since", version=again["version"]))["changes"] == []


async def test_edit_results_carry_others_changes_so_nothing_falls_between_read_and_edit() -> None:
    writer, reviewer, _ = two_participants()
    read = await call(writer, "describe_document", id="root", depth=None)
    await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "theirs"})
    edit = await call(writer, "append_child", parent_id="root", position=None, element=PARAGRAPH)
    assert edit["changes"] == [retitled_by_reviewer("theirs")]
    assert edit["version"] != read["version"]
    assert writer.change_notice() is None  # told once, in the result


async def test_if_unchanged_since_refuses_a_stale_edit_naming_the_newer_values() -> None:
    writer, reviewer, document = two_participants()
    read = await call(writer, "describe_document", id="root", depth=None)
    await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "theirs"})
    stale = await call(
        writer,
        "set_attribute",
        id="root",
        attribute={"name": "title", "value": "mine"},
        if_unchanged_since=read["version"],
    )
    assert stale["error"]["code"] == "conflict"
    assert stale["error"]["message"] == (
        f"element 'root' changed since version {read['version']}: title is now \"theirs\" (set by reviewer)"
    )
    assert document.root.get_attribute("title") == "theirs"
    fresh = await call(writer, "changes_since", version=read["version"])
    done = await call(
        writer,
        "set_attribute",
        id="root",
        attribute={"name": "title", "value": "mine"},
        if_unchanged_since=fresh["version"],
    )
    assert done["ok"] is True
    assert document.root.get_attribute("title") == "mine"
    bad = await call(writer, "delete_element", id="root", if_unchanged_since="12.not-a-version")
    assert bad["error"]["code"] == "invalid_value"


async def test_wait_for_changes_returns_when_another_participant_edits_or_times_out() -> None:
    writer, reviewer, _ = two_participants()
    read = await call(writer, "describe_document", id="root", depth=None)
    quiet = await call(writer, "wait_for_changes", version=read["version"], timeout=0.05)
    assert quiet["changes"] == []
    waiting = asyncio.create_task(call(writer, "wait_for_changes", version=read["version"], timeout=10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "now"})
    woken = await asyncio.wait_for(waiting, 5)
    assert [change["value"] for change in woken["changes"]] == ["now"]
    too_long = await call(writer, "wait_for_changes", version=read["version"], timeout=61)
    assert too_long["error"]["code"] == "invalid_value"


async def test_openai_agents_models_hear_of_others_edits_through_tool_outputs() -> None:
    writer, reviewer, _ = two_participants()
    read = await call(writer, "describe_document", id="root", depth=None)

    async def others_edit() -> None:
        await call(reviewer, "set_attribute", id="root", attribute={"name": "title", "value": "Reviewed"})

    await others_edit()
    model = ScriptedModel(
        [
            [function_call("changes_since", {"version": read["version"]}, call_id="c1")],
            [assistant_message("The reviewer retitled the document.")],
        ]
    )
    agent = Agent(
        name="writer", instructions="Follow the document.", model=model, tools=writer.agents_sdk_tools()
    )
    result = await Runner.run(agent, "What changed?", run_config=RunConfig(tracing_disabled=True))
    model.assert_complete()
    assert result.final_output == "The reviewer retitled the document."
    [output] = [item["output"] for item in model.calls[1].input if item.get("type") == "function_call_output"]
    assert json.loads(output)["changes"] == [retitled_by_reviewer("Reviewed")]
