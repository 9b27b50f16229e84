"""The y-websocket route ``/rooms/{room}/docs/{path}``, driven by pycrdt's own ``Provider``.

Same guarantees as the multiplexed route: auth, path scopes, schema enforcement (repairs arrive as
ordinary updates), durability; refusals close with 44xx and a reason naming the error code; a read-only
participant's write gets the y-protocols permission-denied message and the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from pycrdt import Awareness, Doc, Provider, XmlElement, XmlFragment, create_awareness_message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.server._presence import Presence
from mesh_tools.sync import (
    AUTH_MESSAGE,
    PERMISSION_DENIED,
    QUERY_AWARENESS,
    AwarenessEntry,
    awareness_clocks,
    awareness_removal_message,
    encode_awareness,
)

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector, WebsocketChannel, wait_until


def doc_url(server: RoomServer, path: str, *, room: str = ROOM) -> str:
    """The URL y-websocket builds: base + '/' + encodeURIComponent(path)."""
    return f"{server.url}/rooms/{room}/docs/{quote(path, safe='')}"


@contextlib.asynccontextmanager
async def provider(
    server: RoomServer, path: str, *, token: str, room: str = ROOM
) -> AsyncIterator[tuple[MeshDocument, WebsocketChannel]]:
    """A MeshDocument kept in sync by pycrdt's Provider over the y-websocket route."""
    doc = MeshDocument(schema=DOC_SCHEMA)
    url = f"{doc_url(server, path, room=room)}?token={token}"
    async with connect(url) as connection:
        channel = WebsocketChannel(connection, path, sync_only=True)
        async with Provider(doc.ydoc, channel) as running:
            # The Provider subscribes to local edits in a task of its own: an edit made before that task
            # ran, and after the server's Step1 was answered, would reach the server only on a resync.
            # Once the server's Step2 arrived, both tasks are running.
            await asyncio.wait_for(running.synced.wait(), 20)
            yield doc, channel


def texts(doc: MeshDocument) -> list[str]:
    """Paragraph texts read from the CRDT (the Provider applies updates beside MeshDocument's index)."""
    children = doc.to_json()["doc"].get("children", [])
    return [child["p"].get("text") for child in children]


async def test_pycrdt_provider_syncs_and_co_edits_with_a_multiplexed_participant(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        a = await alice.open("notes/plan.doc")
        a.doc.root.append_child("p", {"text": "from alice"})
        async with provider(server, "notes/plan.doc", token=make_token()) as (doc, _):
            await wait_until(
                lambda: texts(doc) == ["from alice"], what="the Provider replica shows alice's paragraph"
            )
            doc.root.append_child("p", {"text": "from pycrdt", "size": 3})
            await a.wait_for(lambda d: len(d.root.get_children()) == 2, what="the pycrdt edit")
        assert [p.get_attribute("text") for p in a.doc.root.get_children()] == ["from alice", "from pycrdt"]
        await alice.request("sync.flush", channel=a.channel)
    # Durable: a fresh load from storage has both.
    async with raw_client(server.url) as later:
        described = await later.request("sync.describe", path="notes/plan.doc")
    children = described["json"]["doc"]["children"]
    assert [next(iter(c.values()))["text"] for c in children] == ["from alice", "from pycrdt"]


async def test_plain_path_and_percent_encoded_path_reach_the_same_document(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with provider(server, "a/b.doc", token=make_token()) as (encoded, _):
        encoded.root.append_child("p", {"text": "x"})
        url = f"{server.url}/rooms/{ROOM}/docs/a/b.doc?token={make_token()}"
        async with connect(url) as connection:
            plain = MeshDocument(schema=DOC_SCHEMA)
            async with Provider(plain.ydoc, WebsocketChannel(connection, "a/b.doc", sync_only=True)):
                await wait_until(lambda: texts(plain) == ["x"], what="the plain replica shows the paragraph")


async def test_schema_breaking_edit_is_repaired_by_an_ordinary_update(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with provider(server, "repair.doc", token=make_token()) as (doc, _):
        # Plain pycrdt, as a foreign Yjs client would: an element the schema does not know.
        fragment = doc.ydoc.get("mesh", type=XmlFragment)
        root = fragment.children[0]
        assert isinstance(root, XmlElement)
        root.children.append(XmlElement("script", {"$id": "evil0001"}))
        await wait_until(lambda: len(list(root.children)) == 0, what="the repair removed the children")


async def test_refusals_close_with_44xx_and_a_reason_naming_the_error(
    server: RoomServer, make_token: MakeToken
) -> None:
    other_room = make_token(room="elsewhere")
    scoped = make_token(paths=["notes/*"])
    cases = [
        (f"{doc_url(server, 'x.doc')}", 4401, "unauthorized: no participant token"),
        (f"{doc_url(server, 'x.doc')}?token=garbage", 4401, "unauthorized: the token is not a JWT"),
        (f"{doc_url(server, 'x.doc')}?token={other_room}", 4403, "forbidden: the token does not grant room"),
        (f"{doc_url(server, 'x.doc')}?token={scoped}", 4403, "forbidden: this token does not grant 'x.doc'"),
        (f"{doc_url(server, '../x.doc')}?token={make_token()}", 4404, "invalid_path: "),
        (
            f"{doc_url(server, 'x.nothing')}?token={make_token()}",
            4400,
            "invalid_schema: room 'lab' has no schema",
        ),
    ]
    for url, code, reason in cases:
        async with connect(url) as connection:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(connection.recv(), 5)
        assert connection.close_code == code, url
        assert connection.close_reason.startswith(reason), connection.close_reason
        assert len(connection.close_reason.encode()) <= 123


async def test_read_only_writes_get_permission_denied_and_the_socket_stays_open(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as writer:
        w = await writer.open("ro.doc")
        w.doc.root.append_child("p", {"text": "original"})
        await writer.request("sync.flush", channel=w.channel)
        reader = make_token(name="reader", read_only=True)
        async with provider(server, "ro.doc", token=reader) as (doc, channel):
            await wait_until(
                lambda: texts(doc) == ["original"], what="the replica shows the original paragraph"
            )
            doc.root.append_child("p", {"text": "sneaky"})
            async with asyncio.timeout(5):
                denied = await channel.others.get()
            assert denied[:2] == bytes([AUTH_MESSAGE, PERMISSION_DENIED])
            assert b"may only read" in denied
            # Still connected, and still receiving everyone else's edits.
            w.doc.root.append_child("p", {"text": "later"})
            await wait_until(lambda: "later" in texts(doc), what="the replica shows the later paragraph")
        await writer.request("sync.flush", channel=w.channel)
        assert [p.get_attribute("text") for p in w.doc.root.get_children()] == ["original", "later"]


async def test_presence_reaches_a_joiner_at_once_and_answers_query_awareness(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with provider(server, "here.doc", token=make_token()) as (doc, _):
        ydoc: Doc = doc.ydoc
        presence = Awareness(ydoc)
        presence.set_local_state({"user": {"name": "pat"}, "element": "root"})
        update = presence.encode_awareness_update([ydoc.client_id])
        async with connect(f"{doc_url(server, 'here.doc')}?token={make_token()}") as first:
            await first.send(create_awareness_message(update))
            async with raw_client(server.url) as joiner:
                await joiner.open("here.doc")
                async with asyncio.timeout(5):
                    _, snapshot = await joiner.awareness.get()
                assert awareness_clocks(snapshot) == {ydoc.client_id: 1}
                assert b'"pat"' in snapshot
            await first.send(bytes([QUERY_AWARENESS]))
            async with asyncio.timeout(5):
                while True:
                    frame = await first.recv()
                    assert isinstance(frame, bytes)
                    if frame[0] == 1 and b'"pat"' in frame:
                        break
        # The socket that announced it is gone: a new joiner sees nobody.
        async with raw_client(server.url) as late:
            await late.open("here.doc")
            await asyncio.sleep(0.2)
            assert late.awareness.empty()


def test_presence_keeps_the_newest_state_and_expires_silent_clients() -> None:
    clock = [100.0]
    presence = Presence(timeout=30.0, now=lambda: clock[0])
    presence.apply(encode_awareness([AwarenessEntry(7, 2, '{"name":"a"}')]))
    presence.apply(encode_awareness([AwarenessEntry(7, 1, '{"name":"stale"}')]))  # an older clock
    clock[0] = 120.0
    presence.apply(encode_awareness([AwarenessEntry(8, 0, '{"name":"b"}')]))
    assert presence.states() == {7: '{"name":"a"}', 8: '{"name":"b"}'}
    clock[0] = 131.0  # client 7 has not renewed for 31 s, client 8 for 11 s
    removal = presence.expire()
    assert removal is not None and awareness_clocks(removal) == {7: None}
    assert presence.states() == {8: '{"name":"b"}'}
    presence.apply(awareness_removal_message({8: 0}))  # its channel went: a null at the same clock
    assert presence.snapshot() is None
