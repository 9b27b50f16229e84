"""Versions passed between agents: a version from one participant's toolkit works in another's (over a
live room, real sockets), in a second toolkit on the same replica, and a version no replica can answer
fails with a clear error."""

from __future__ import annotations

from typing import Any

from mesh_tools.client import RoomClient
from mesh_tools.tools import DocumentToolkit

from .examples import args, loads, rich
from .live_room import LiveRoom

PATH = "versions.doc"
PARAGRAPH = {"$tag": "paragraph", "text": "draft", "style": None}


async def call(kit: DocumentToolkit, tool: str, /, **arguments: Any) -> Any:
    return loads(await kit.call(tool, args(**arguments)))


def toolkit(room: RoomClient) -> DocumentToolkit:
    return DocumentToolkit(room, schema=rich(), path=PATH)


async def caught_up(kit: DocumentToolkit, version: str, count: int) -> Any:
    """Wait until ``kit``'s replica has ``count`` changes after ``version``; the feed page."""
    for _ in range(50):
        page = await call(kit, "wait_for_changes", version=version, timeout=2)
        if len(page["changes"]) >= count:
            return page
    raise AssertionError(f"{count} changes never arrived: {page}")


async def test_a_version_from_one_agent_answers_in_anothers_toolkit(live_room: LiveRoom) -> None:
    async with (
        live_room.participant("writer") as writer_room,
        live_room.participant("reviewer") as reviewer_room,
        live_room.participant("editor") as editor_room,
    ):
        writer, reviewer, editor = toolkit(writer_room), toolkit(reviewer_room), toolkit(editor_room)
        kept = await call(editor, "append_child", parent_id="root", position=None, element=PARAGRAPH)
        gone = await call(editor, "append_child", parent_id="root", position=None, element=PARAGRAPH)
        await caught_up(
            reviewer, (await call(reviewer, "describe_document", id="root", depth=0))["version"], 0
        )
        mine = await call(writer, "describe_document", id="root", depth=None)
        await caught_up(reviewer, mine["version"], 0)  # the reviewer's replica holds what the writer read
        # After the writer's read: the editor retitles and deletes; the writer sets a paragraph.
        await call(editor, "set_attribute", id="root", attribute={"name": "title", "value": "Edited"})
        await call(editor, "delete_element", id=gone["id"])
        await call(writer, "set_attribute", id=kept["id"], attribute={"name": "text", "value": "final"})

        # The writer hands its version to the reviewer, whose replica never issued it.
        page = await caught_up(reviewer, mine["version"], 3)
        # Who: the writer of the update; updates the server relays merged name all their writers.
        sets = {
            change["value"]: change["by"].split(", ") for change in page["changes"] if change["op"] == "set"
        }
        assert set(sets) == {"Edited", "final"}, page
        assert "editor" in sets["Edited"] and "writer" in sets["final"], page
        assert [change["ids"] for change in page["changes"] if change["op"] == "delete"] == [[gone["id"]]]
        # ...and if_unchanged_since with it refuses the stale edit, naming the newer value.
        stale = await call(
            reviewer,
            "set_attribute",
            id="root",
            attribute={"name": "title", "value": "Mine"},
            if_unchanged_since=mine["version"],
        )
        assert stale["error"]["code"] == "conflict"
        assert 'title is now "Edited" (set by ' in stale["error"]["message"]
        assert "editor" in stale["error"]["message"].rpartition("(set by ")[2]

        # A second toolkit on the writer's own replica shares its log: same answer as the writer's.
        second = toolkit(writer_room)
        assert (await call(second, "changes_since", version=mine["version"]))["changes"] == (
            await call(writer, "changes_since", version=mine["version"])
        )["changes"]

        # A replica opened after the changes cannot tell what happened before it: it says so.
        async with live_room.participant("latecomer") as late_room, toolkit(late_room) as late:
            refused = await call(late, "changes_since", version=mine["version"])
        assert refused["error"]["code"] == "invalid_value"
        assert "older than this replica's change log" in refused["error"]["message"]
        assert "describe_document" in refused["error"]["hint"]
        for kit in (writer, reviewer, editor, second):
            await kit.aclose()
