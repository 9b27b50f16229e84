"""Presence through mesh_tools.client: who is on a document and which element they work on.

Real RoomServer on loopback; the joiner's view, the reconnect, and the agent tools' focus.
"""

from __future__ import annotations

import json

from mesh_tools.client import SyncedDocument
from mesh_tools.server import RoomServer
from mesh_tools.tools import DocumentToolkit

from ..support import NOTES, NOTES_ROOM, ClientFactory, TcpProxy, wait_until

ROOM = NOTES_ROOM


def names(document: SyncedDocument) -> dict[str, str | None]:
    """Peer name → the element it works on."""
    return {
        state["user"]["name"]: state.get("element") for state in document.peers.values() if "user" in state
    }


async def test_presence_says_who_is_here_and_where_and_clears_when_they_leave(
    server: RoomServer, room_client: ClientFactory
) -> None:
    async with room_client(server.url, ROOM, "alice") as alice, room_client(server.url, ROOM, "bob") as bob:
        a = await alice.sync.open("p.notes")
        await a.synchronized
        note = a.root.append_child("note", {"text": "hi"})
        a.focus(note.id)
        b = await bob.sync.open("p.notes")
        await b.synchronized
        # The joiner gets the states the server holds at once, not at the next 15 s renewal.
        await wait_until(lambda: names(b) == {"alice": note.id}, timeout=5, what="alice in bob's view")
        assert next(iter(b.peers.values()))["user"] == {"name": "alice", "role": "agent"}
        await wait_until(lambda: names(a) == {"bob": None}, timeout=5, what="bob in alice's view")
        a.focus(None)
        await wait_until(lambda: names(b) == {"alice": None}, timeout=5, what="focus cleared")
        await alice.sync.close("p.notes")
        await wait_until(lambda: names(b) == {}, timeout=5, what="alice gone")


async def test_presence_is_republished_after_a_reconnect(
    server: RoomServer, room_client: ClientFactory, proxy: TcpProxy
) -> None:
    async with (
        room_client(proxy.url, ROOM, "flaky") as flaky,
        room_client(server.url, ROOM, "steady") as steady,
    ):
        f = await flaky.sync.open("r.notes")
        await f.synchronized
        f.focus("root")
        s = await steady.sync.open("r.notes")
        await s.synchronized
        await wait_until(lambda: names(s) == {"flaky": "root"}, timeout=5, what="flaky present")
        proxy.offline = True
        proxy.drop()
        await wait_until(lambda: names(s) == {}, timeout=10, what="flaky removed with its channel")
        proxy.offline = False
        await wait_until(lambda: names(s) == {"flaky": "root"}, timeout=20, what="flaky back")
        await wait_until(lambda: names(f) == {"steady": None}, timeout=5, what="steady seen again")


async def test_agent_tools_show_the_element_the_agent_works_on(
    server: RoomServer, room_client: ClientFactory
) -> None:
    async with (
        room_client(server.url, ROOM, "writer") as agent,
        room_client(server.url, ROOM, "pat") as person,
    ):
        watcher = await person.sync.open("t.notes")
        await watcher.synchronized
        async with DocumentToolkit(agent, schema=NOTES, path="t.notes") as kit:
            created = json.loads(
                await kit.call(
                    "append_child",
                    json.dumps(
                        {
                            "parent_id": "root",
                            "position": None,
                            "element": {"$tag": "note", "text": "draft", "n": None},
                        }
                    ),
                )
            )
            assert "id" in created, created
            await wait_until(lambda: names(watcher) == {"writer": "root"}, timeout=5, what="agent at root")
            await kit.call(
                "set_attribute",
                json.dumps({"id": created["id"], "attribute": {"name": "text", "value": "final"}}),
            )
            await wait_until(
                lambda: names(watcher) == {"writer": created["id"]}, timeout=5, what="agent at note"
            )
