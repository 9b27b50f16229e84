"""Who made a change is the token's identity: the room server holds the participant register to the
name in each connection's token, over real sockets with two tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pycrdt import Map, create_update_message

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.document import PARTICIPANTS_MAP, MeshDocument
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType
from mesh_tools.tools import DocumentToolkit

from ..conftest import MakeToken
from ..support import DOC_SCHEMA, ROOM, RawConnector

PATH = "target.doc"


@asynccontextmanager
async def toolkit(server: RoomServer, token: str, participant: str) -> AsyncIterator[DocumentToolkit]:
    """A participant's toolkit on its own connection, naming itself ``participant``."""
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    protocol = WebSocketClientProtocol(url=url, token=token)
    async with (
        RoomClient(protocol=protocol) as room,
        DocumentToolkit(room, schema=DOC_SCHEMA, path=PATH, participant=participant) as kit,
    ):
        yield kit


async def call(kit: DocumentToolkit, tool: str, **arguments: Any) -> Any:
    return json.loads(await kit.call(tool, json.dumps(arguments)))


async def others_changes(kit: DocumentToolkit, version: str) -> list[dict[str, Any]]:
    result = await call(kit, "wait_for_changes", version=version, timeout=5)
    assert result["ok"], result
    changes: list[dict[str, Any]] = result["changes"]
    return changes


def register(document: MeshDocument) -> dict[str, str]:
    return dict(document.ydoc.get(PARTICIPANTS_MAP, type=Map))


async def test_a_toolkit_is_named_by_its_token_whatever_name_it_is_given(
    server: RoomServer, make_token: MakeToken
) -> None:
    async with (
        toolkit(server, make_token(name="alice"), "alice") as alice,
        toolkit(server, make_token(name="bob"), "alice") as bob,  # claims to be alice
    ):
        read = await call(alice, "describe_document", id="root", depth=None)
        edited = await call(bob, "set_attribute", id="root", attribute={"name": "title", "value": "bob's"})
        assert edited["ok"], edited
        changes = await others_changes(alice, read["version"])
    assert [(change["op"], change.get("by")) for change in changes] == [("set", "bob")]


async def test_registering_another_name_than_the_tokens_is_refused(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with (
        toolkit(server, make_token(name="alice"), "alice") as alice,
        raw_client(server.url, token=make_token(name="bob")) as bob,
    ):
        read = await call(alice, "describe_document", id="root", depth=None)
        replica = await bob.open(PATH, create=False)
        with replica.doc.ydoc.transaction():
            # Its own entry, as the guard asks, but with a false name.
            replica.doc.ydoc.get(PARTICIPANTS_MAP, type=Map)[str(replica.doc.ydoc.client_id)] = "alice"
            replica.doc.root.set_attribute("title", "bob's")
        push = await bob.next_push()
        assert push.type == PushType.ERROR and push.fields["error"]["code"] == "update_refused"
        assert "registers client" in push.fields["error"]["message"]
        assert "as 'alice', but its token names 'bob'" in push.fields["error"]["message"]
        # Nothing of it was applied: alice hears of no change.
        quiet = await call(alice, "wait_for_changes", version=read["version"], timeout=0.3)
        described = await bob.request("sync.describe", path=PATH)
    assert quiet["changes"] == []
    assert (
        "title" not in described["json"]["doc"] and str(replica.doc.ydoc.client_id) not in described["json"]
    )


async def test_writing_as_another_participants_client_is_refused(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with (
        raw_client(server.url, token=make_token(name="alice")) as alice,
        raw_client(server.url, token=make_token(name="mallory")) as mallory,
    ):
        honest = await alice.open(PATH)
        with honest.doc.ydoc.transaction():
            honest.doc.ydoc.get(PARTICIPANTS_MAP, type=Map)[str(honest.doc.ydoc.client_id)] = "alice"
            honest.doc.root.set_attribute("title", "alice's")
        attacker = await mallory.open(PATH, create=False)
        alice_id = honest.doc.ydoc.client_id
        await attacker.wait_for(lambda d: register(d).get(str(alice_id)) == "alice", what="alice registered")
        # Mallory's edits written with alice's client id would show as alice's in every feed.
        forged = MeshDocument(schema=DOC_SCHEMA, client_id=alice_id)
        forged.apply_update(attacker.doc.get_update())
        forged.root.set_attribute("title", "not alice's")
        await mallory.send_frame(
            attacker.channel, create_update_message(forged.get_update(attacker.doc.get_state()))
        )
        push = await mallory.next_push()
        assert push.type == PushType.ERROR
        assert push.fields["error"]["code"] == "update_refused"
        assert f"client {alice_id}, which is 'alice''s" in push.fields["error"]["message"]
        described = await alice.request("sync.describe", path=PATH)
    assert described["json"]["doc"]["title"] == "alice's"
