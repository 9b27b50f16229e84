"""Read-only participants end to end: the open result says so, the replica refuses edits, the server refuses
whatever is sent anyway, and flush/close have nothing to wait for. Real sockets, embedded RoomServer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import pytest
from pycrdt import XmlElement, XmlFragment, create_update_message

from mesh_tools.client import RoomClient, SyncedDocument, WebSocketClientProtocol
from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.errors import PermissionDeniedError
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector, TcpProxy, texts, wait_until

PATH = "plan.doc"


class Client(Protocol):
    def __call__(
        self, url: str, name: str, *, read_only: bool = ..., paths: list[str] | None = ...
    ) -> RoomClient: ...


@pytest.fixture
def client(make_token: MakeToken) -> Client:
    """``client(url, name, read_only=False, paths=None)``: a RoomClient of ROOM with that sync scope."""

    def connect(
        url: str, name: str, *, read_only: bool = False, paths: list[str] | None = None
    ) -> RoomClient:
        token = make_token(name=name, read_only=read_only, paths=paths)
        protocol = WebSocketClientProtocol(url=websocket_room_url(room_name=ROOM, base_url=url), token=token)
        return RoomClient(protocol=protocol, request_timeout=5.0)

    return connect


async def stored_texts(room: RoomClient) -> list[str]:
    described = await room.sync.describe(PATH)
    return [child["p"]["text"] for child in described["doc"]["children"]]


async def test_a_reader_follows_a_writer_live_and_its_edits_fail_before_touching_the_replica(
    server: RoomServer, client: Client
) -> None:
    async with client(server.url, "writer") as writer, client(server.url, "reader", read_only=True) as reader:
        mine = await writer.sync.open(PATH)
        mine.root.append_child("p", {"text": "one"})
        await writer.sync.flush(PATH)

        theirs = await reader.sync.open(PATH)
        await theirs.synchronized
        assert (mine.read_only, theirs.read_only) == (False, True)
        assert texts(theirs) == ["one"]

        mine.root.append_child("p", {"text": "two"})
        mine.root.set_attribute("title", "live")
        await wait_until(
            lambda: texts(theirs) == ["one", "two"] and theirs.root["title"] == "live",
            what="the reader sees the writer's second note and title",
        )

        state, seen = theirs.get_state(), theirs.to_json(include_ids=True)
        updates: list[bytes] = []
        theirs.on_update(lambda update, origin: updates.append(update))
        first = theirs.root.get_children()[0]
        edits: list[Callable[[], object]] = [
            lambda: theirs.root.append_child("p", {"text": "sneaky"}),
            lambda: theirs.root.insert_child(0, "p", {"text": "sneaky"}),
            lambda: theirs.root.append_json({"p": {"text": "sneaky"}}),
            lambda: first.set_attribute("text", "changed"),
            lambda: first.remove_attribute("size"),  # not even set: refused all the same
            lambda: theirs.root.remove_attribute("title"),
            lambda: first.delete(),
            lambda: theirs.load_json({"doc": {"children": []}}),
            lambda: theirs.repair(),
        ]
        for edit in edits:
            with pytest.raises(PermissionDeniedError, match=f"this participant may only read {PATH}") as info:
                edit()
            assert info.value.code == "forbidden" and info.value.hint
        assert theirs.get_state() == state
        assert theirs.to_json(include_ids=True) == seen
        assert updates == []

        # Remote updates still apply after the refusals.
        mine.root.append_child("p", {"text": "three"})
        await wait_until(lambda: texts(theirs) == ["one", "two", "three"], what="the reader sees three notes")
        assert await stored_texts(writer) == ["one", "two", "three"]


async def test_writes_a_reader_sends_anyway_are_refused_and_change_nothing_for_anyone(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector, client: Client
) -> None:
    async with client(server.url, "writer") as writer, client(server.url, "reader", read_only=True) as reader:
        mine = await writer.sync.open(PATH)
        mine.root.append_child("p", {"text": "one"})
        await writer.sync.flush(PATH)
        theirs = await reader.sync.open(PATH)
        await theirs.synchronized

        # A valid update on top of the shared state, as a writer would have made it.
        rogue = MeshDocument(schema=DOC_SCHEMA)
        rogue.apply_update(theirs.get_update())
        rogue.root.append_child("p", {"text": "sneaky"})
        update = rogue.get_update(theirs.get_state())

        with pytest.raises(PermissionDeniedError):
            await reader.sync.sync(PATH, update)
        assert texts(theirs) == ["one"], "a refused sync.sync is not applied locally either"

        async with raw_client(server.url, token=make_token(name="crafty", read_only=True)) as raw:
            replica = await raw.open(PATH)
            assert replica.doc.root.get_children() and texts(replica.doc) == ["one"]
            await raw.send_frame(replica.channel, create_update_message(update))
            push = await raw.next_push()
            assert push.type == PushType.ERROR and push.fields["error"]["code"] == "forbidden"
            assert push.fields["channel"] == replica.channel

            # The writer's next edit is the first thing anyone receives after the refused ones.
            mine.root.append_child("p", {"text": "two"})
            await replica.wait_for(
                lambda doc: texts(doc) == ["one", "two"], what="the raw reader sees two notes"
            )
            await wait_until(lambda: texts(theirs) == ["one", "two"], what="the reader sees two notes")
        assert texts(mine) == ["one", "two"]
        assert await stored_texts(writer) == ["one", "two"]
        async with client(server.url, "late") as late:
            fresh = await late.sync.open(PATH, create=False)
            await fresh.synchronized
            assert texts(fresh) == ["one", "two"]


async def test_a_reader_cannot_create_documents_sync_or_store_schemas(
    server: RoomServer, client: Client
) -> None:
    async with client(server.url, "reader", read_only=True) as reader:
        with pytest.raises(PermissionDeniedError):
            await reader.sync.create("new.doc")
        with pytest.raises(PermissionDeniedError):
            await reader.sync.open("missing.doc")  # create=True by default
        with pytest.raises(PermissionDeniedError):
            await reader.schemas.put("other", DOC_SCHEMA)
        with pytest.raises(PermissionDeniedError):
            await reader.sync.sync("missing.doc", MeshDocument(schema=DOC_SCHEMA).get_update())
        assert await reader.sync.list() == []
        assert await reader.schemas.list() == ["doc"]


async def test_the_open_result_says_read_only_per_the_tokens_scope_and_paths(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector, client: Client
) -> None:
    async with raw_client(server.url) as admin:
        for path in ("notes/a.doc", "secret.doc"):
            await admin.request("sync.create", path=path)
        opened = await admin.request("sync.open", path="notes/a.doc", create=False)
        assert opened["read_only"] is False
    # Its path pattern lets this token read notes/ and write nothing: open says so.
    notes_reader = make_token(name="notes-reader", read_only=True, paths=["notes/*"])
    async with raw_client(server.url, token=notes_reader) as reader:
        opened = await reader.request("sync.open", path="notes/a.doc", create=False)
        assert opened["read_only"] is True
        with pytest.raises(PermissionDeniedError, match=r"secret\.doc"):
            await reader.request("sync.open", path="secret.doc", create=False)
    async with raw_client(server.url, token=make_token(name="notes-writer", paths=["notes/*"])) as writer:
        opened = await writer.request("sync.open", path="notes/a.doc", create=False)
        assert opened["read_only"] is False
    async with client(server.url, "notes-reader", read_only=True, paths=["notes/*"]) as room:
        document = await room.sync.open("notes/a.doc", create=False)
        assert isinstance(document, SyncedDocument) and document.read_only


async def test_flush_and_close_of_a_read_only_document_send_nothing_and_do_not_wait(
    server: RoomServer, caplog: pytest.LogCaptureFixture, client: Client
) -> None:
    caplog.set_level(logging.WARNING, logger="mesh_tools")
    port = int(server.url.rsplit(":", 1)[1])
    async with TcpProxy(port) as proxy, client(server.url, "writer") as writer:
        mine = await writer.sync.open(PATH)
        mine.root.append_child("p", {"text": "one"})
        await writer.sync.flush(PATH)
        async with client(proxy.url, "reader", read_only=True) as reader:
            theirs = await reader.sync.open(PATH)
            await theirs.synchronized

            # Written behind the API's back: the client must not send it, now or after a reconnect.
            fragment = theirs.ydoc.get(FRAGMENT_NAME, type=XmlFragment)
            fragment.children[0].children.append(XmlElement("p", {"$id": "rawrawra", "text": "raw"}))
            sent = proxy.bytes_to_server
            proxy.stall()  # a flush that waited for the server would now hang
            async with asyncio.timeout(1):
                await reader.sync.flush(PATH)
            await asyncio.sleep(0.2)  # time for a sender that wrongly queued the raw edit to send it
            assert proxy.bytes_to_server == sent
            proxy.resume()

            proxy.drop()  # the reconnect's handshake must not carry the raw edit either
            await wait_until(
                lambda: reader.is_connected and theirs.is_synchronized, what="the reader resynced"
            )
            mine.root.append_child("p", {"text": "two"})
            await wait_until(lambda: "two" in texts(theirs), what="the reader got the note made offline")
            assert await reader.sync.list() == [PATH]

            proxy.stall()
            async with asyncio.timeout(1):
                await reader.sync.close(PATH)
            assert reader.sync.get_open_documents() == {}
            proxy.resume()
            live = server.rooms[ROOM].documents[PATH]
            await wait_until(lambda: len(live.subscribers) == 1, what="the reader's channel was released")
        assert await stored_texts(writer) == ["one", "two"]
    refused = [
        r for r in caplog.records if "forbidden" in r.getMessage() or "may only read" in r.getMessage()
    ]
    assert refused == [], "the server never had to refuse anything from the reader"


def test_a_read_only_document_applies_remote_updates_and_refuses_local_writes() -> None:
    source = MeshDocument(schema=DOC_SCHEMA)
    replica = MeshDocument(schema=DOC_SCHEMA, read_only=True)
    assert replica.read_only and not source.read_only
    source.root.append_child("p", {"text": "hello"})
    assert replica.apply_update(source.get_update()) == []
    assert texts(replica) == ["hello"]
    state = replica.get_state()
    with pytest.raises(PermissionDeniedError, match="read-only"):
        replica.root.append_child("p", {"text": "mine"})
    with pytest.raises(PermissionDeniedError):
        replica.root.get_children()[0]["text"] = "mine"
    assert replica.get_state() == state
    with pytest.raises(PermissionDeniedError):
        MeshDocument(schema=DOC_SCHEMA, read_only=True).load_json({"doc": {}})
