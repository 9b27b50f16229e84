"""The toolkit over a live room: a RoomServer on 127.0.0.1, RoomClients through real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from agents import Agent, RunConfig, Runner, set_tracing_disabled
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call

from mesh_tools.client import RoomClient, SyncedDocument
from mesh_tools.tools import DocumentToolkit

from .examples import HTML, args, loads, rich
from .live_room import LiveRoom


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for replication; the ceiling only turns a hang into a failure that says what was awaited."""
    try:
        async with asyncio.timeout(20):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def open_synced(room: RoomClient, path: str) -> SyncedDocument:
    document = await room.sync.open(path)
    await document.synchronized
    return document


async def test_an_agent_edits_a_room_document_and_hears_about_others(live_room: LiveRoom) -> None:
    async with live_room.participant("agent") as agent_room, live_room.participant("bob") as bob_room:
        kit = DocumentToolkit(agent_room, schema=rich(), path="notes.doc")
        bob = await open_synced(bob_room, "notes.doc")
        table = {
            "$tag": "table",
            "caption": "Plan",
            "rows": [{"$tag": "row", "cells": [{"$tag": "cell", "text": "a"}]}],
        }
        created = loads(await kit.call("append_child", args(parent_id="root", position=None, element=table)))
        table_id, row_id, cell_id = created["ids"]
        await agent_room.sync.flush("notes.doc")
        await until(lambda: bob.get_element(cell_id) is not None, "the new table to reach bob")
        assert bob.element_by_id(table_id).get_attribute("caption") == "Plan"

        bob.element_by_id(cell_id).set_attribute("text", "b")
        bob.element_by_id(row_id).delete()
        heading = bob.root.insert_child(0, "heading", {"text": "Hi", "level": 1})
        agent_document = agent_room.sync.get_open_documents()["notes.doc"]
        await until(
            lambda: agent_document.get_element(heading.id) is not None, "bob's heading to reach the agent"
        )
        assert kit.change_notice() == (
            "Other participants edited notes.doc since you last looked: "
            f"1 element inserted (ids: {heading.id}), 2 elements deleted (ids: {cell_id}, {row_id}). "
            "Call describe_document to see the current state."
        )
        stale = loads(
            await kit.call("set_attribute", args(id=cell_id, attribute={"name": "text", "value": "c"}))
        )
        assert stale["error"]["message"] == f"element '{cell_id}' was deleted by another participant"
        described = loads(await kit.call("describe_document", args(id="root", depth=None)))
        assert described["element"]["blocks"] == [
            {"$tag": "heading", "$id": heading.id, "text": "Hi", "level": 1},
            {"$tag": "table", "$id": table_id, "caption": "Plan", "rows": []},
        ]
        await kit.aclose()
        assert "notes.doc" not in agent_room.sync.get_open_documents()


async def test_the_agents_runner_edits_a_live_room(live_room: LiveRoom) -> None:
    set_tracing_disabled(True)
    steps: list[Any] = [
        [function_call("describe_document", {"id": "root", "depth": None}, call_id="c1")],
        [
            function_call(
                "append_child",
                {"parent_id": "root", "position": None, "element": {"$tag": "body", "children": []}},
                call_id="c2",
            )
        ],
    ]

    def add_paragraph(call: Any) -> Any:
        # The model reads the id the previous tool call returned, as a real model would.
        outputs = [item["output"] for item in call.input if item.get("type") == "function_call_output"]
        body_id = json.loads(outputs[-1])["id"]
        element = {"$tag": "p", "class": "lead"}
        return [
            function_call(
                "append_child", {"parent_id": body_id, "position": 0, "element": element}, call_id="c3"
            )
        ]

    model = ScriptedModel([*steps, ModelStep.respond(add_paragraph), [assistant_message("Done.")]])
    async with live_room.participant("agent") as agent_room, live_room.participant("bob") as bob_room:
        async with DocumentToolkit(agent_room, schema=HTML, path="page.html") as kit:
            agent = Agent(
                name="writer", instructions="Edit the page.", model=model, tools=kit.agents_sdk_tools()
            )
            result = await Runner.run(
                agent, "Add a lead paragraph.", run_config=RunConfig(tracing_disabled=True)
            )
            assert result.final_output == "Done."
        # Closing the toolkit flushed its edits to the server; a later reader sees them.
        bob = await open_synced(bob_room, "page.html")
        assert bob.to_json() == {"html": {"children": [{"body": {"children": [{"p": {"class": "lead"}}]}}]}}
    model.assert_complete()


async def test_undo_over_a_live_room_reverts_only_the_callers_own_edits(live_room: LiveRoom) -> None:
    async with live_room.participant("ana") as ana_room, live_room.participant("bo") as bo_room:
        ana = DocumentToolkit(ana_room, schema=rich(), path="undo.doc", participant="ana")
        bo = DocumentToolkit(bo_room, schema=rich(), path="undo.doc", participant="bo")
        made = loads(
            await ana.call(
                "apply_edits",
                args(
                    edits=[
                        {
                            "op": "insert",
                            "parent": "root",
                            "position": None,
                            "ref": "a",
                            "element": {"$tag": "paragraph", "text": "ana", "style": None},
                        },
                        {
                            "op": "insert",
                            "parent": "root",
                            "position": None,
                            "ref": "b",
                            "element": {"$tag": "paragraph", "text": "bo's to edit", "style": None},
                        },
                    ],
                    if_unchanged_since=None,
                ),
            )
        )
        mine, shared = made["refs"]["a"], made["refs"]["b"]
        await ana_room.sync.flush("undo.doc")
        bo_document = await open_synced(bo_room, "undo.doc")
        await until(lambda: bo_document.get_element(shared) is not None, "ana's batch to reach bo")
        # Bo edits the second paragraph and adds his own; Ana then edits her first paragraph.
        edited = await bo.call(
            "set_attribute",
            args(id=shared, attribute={"name": "text", "value": "bo"}, if_unchanged_since=None),
        )
        assert loads(edited)["ok"]
        added = loads(
            await bo.call(
                "append_child",
                args(
                    parent_id="root",
                    position=0,
                    element={"$tag": "heading", "text": "Bo", "level": 1},
                    if_unchanged_since=None,
                ),
            )
        )
        await bo_room.sync.flush("undo.doc")
        ana_document = ana_room.sync.get_open_documents()["undo.doc"]
        await until(lambda: ana_document.get_element(added["id"]) is not None, "bo's heading to reach ana")
        assert loads(
            await ana.call(
                "set_attribute",
                args(id=mine, attribute={"name": "text", "value": "ana 2"}, if_unchanged_since=None),
            )
        )["ok"]

        assert loads(await ana.call("undo", "{}"))["undone"] == "set_attribute"
        # Undoing the batch would delete the paragraph Bo edited since: refused, nothing touched.
        refused = loads(await ana.call("undo", "{}"))
        assert refused["error"]["code"] == "conflict" and shared in refused["error"]["message"]
        await ana_room.sync.flush("undo.doc")
        server = live_room.server.rooms[live_room.name].documents["undo.doc"].doc
        await until(
            lambda: bo_document.element_by_id(mine).get_attribute("text") == "ana", "ana's undo to reach bo"
        )
        for replica in (ana_document, bo_document, server):
            blocks = replica.to_json(include_ids=True)["document"]["blocks"]
            assert [(b.get("heading") or b.get("paragraph"))["text"] for b in blocks] == ["Bo", "ana", "bo"]
        await ana.aclose()
        await bo.aclose()


async def test_a_move_reaches_the_server_and_the_other_participant_unchanged(live_room: LiveRoom) -> None:
    async with live_room.participant("ana") as ana_room, live_room.participant("bo") as bo_room:
        ana = DocumentToolkit(ana_room, schema=rich(), path="move.doc", participant="ana")
        table = {
            "$tag": "table",
            "caption": "T",
            "rows": [{"$tag": "row", "cells": [{"$tag": "cell", "text": "a"}]}],
        }
        first = loads(await ana.call("append_child", args(parent_id="root", position=None, element=table)))
        second = loads(await ana.call("append_child", args(parent_id="root", position=None, element=table)))
        row = next(i for i, tag in first["ids"].items() if tag == "row")
        moved = loads(await ana.call("move_element", args(id=row, parent_id=second["id"], position=0)))
        assert moved["ok"], moved
        await ana_room.sync.flush("move.doc")
        bo_document = await open_synced(bo_room, "move.doc")
        server = live_room.server.rooms[live_room.name].documents["move.doc"].doc
        ana_document = ana_room.sync.get_open_documents()["move.doc"]
        expected = ana_document.to_json(include_ids=True)
        await until(lambda: bo_document.to_json(include_ids=True) == expected, "the move to reach bo")
        assert server.to_json(include_ids=True) == expected and server.validate() == []
        assert server.element_by_id(second["id"]).get_children()[0].id == row
        await ana.aclose()
