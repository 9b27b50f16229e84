"""The Sync API end to end: mesh_tools.client against a real RoomServer on 127.0.0.1, through real sockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import XmlElement, XmlFragment

from mesh_tools.client import Rejection, RoomClient, SyncedDocument, WebSocketClientProtocol
from mesh_tools.errors import (
    AuthenticationError,
    ConnectionLostError,
    DocumentExistsError,
    DocumentNotFoundError,
    InvalidOperationError,
    PermissionDeniedError,
    RequestTimeoutError,
)
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer

from ..support import NOTES, NOTES_ROOM, ClientFactory, MakeToken, TcpProxy, texts, wait_until

ROOM = NOTES_ROOM  # the server fixture stores the NOTES schema there


async def test_open_edit_flush_and_read_back(server: RoomServer, room_client: ClientFactory) -> None:
    async with room_client(server.url, ROOM, "alice") as alice, room_client(server.url, ROOM, "bob") as bob:
        assert alice.room_name == ROOM
        document = await alice.sync.open("plan.notes")
        await document.synchronized
        document.root.append_child("note", {"text": "first", "n": 1})
        await alice.sync.flush("plan.notes")

        described = await bob.sync.describe("plan.notes")
        assert [item["note"]["text"] for item in described["notes"]["items"]] == ["first"]
        assert described["notes"]["$id"] == "root", "describe carries element ids"
        assert await bob.sync.list() == ["plan.notes"]

        mirror = await bob.sync.open("plan.notes", create=False)
        await mirror.synchronized
        assert texts(mirror) == ["first"]
        mirror.root.append_child("note", {"text": "second"})
        await wait_until(lambda: texts(document) == ["first", "second"], what="both notes arrived")


async def test_a_failing_listener_does_not_break_the_link(
    server: RoomServer, room_client: ClientFactory
) -> None:
    async with room_client(server.url, ROOM, "alice") as alice, room_client(server.url, ROOM, "bob") as bob:
        mine = await alice.sync.open("loud.notes")
        theirs = await bob.sync.open("loud.notes")
        await asyncio.gather(mine.synchronized, theirs.synchronized)

        def explode(update: bytes, origin: object) -> None:
            raise RuntimeError("listener bug")

        theirs.on_update(explode)
        mine.root.append_child("note", {"text": "one"})
        mine.root.append_child("note", {"text": "two"})
        await wait_until(lambda: texts(theirs) == ["one", "two"], what="bob sees both of alice's notes")
        assert bob.is_connected
        await bob.sync.flush("loud.notes")


async def test_open_is_reference_counted(server: RoomServer, room_client: ClientFactory) -> None:
    async with room_client(server.url, ROOM) as room:
        first, second = await asyncio.gather(room.sync.open("a.notes"), room.sync.open("a.notes"))
        third = await room.sync.open("a.notes")
        assert first is second is third
        assert room.sync.get_open_documents() == {"a.notes": first}
        await room.sync.close("a.notes")
        await room.sync.close("a.notes")
        first.root.append_child("note", {"text": "still synced"})
        await room.sync.flush("a.notes")
        await room.sync.close("a.notes")
        assert room.sync.get_open_documents() == {}
        with pytest.raises(InvalidOperationError, match="not open"):
            await room.sync.close("a.notes")
        with pytest.raises(InvalidOperationError, match="not open"):
            await room.sync.flush("a.notes")
        again = await room.sync.open("a.notes")
        assert again is not first
        await again.synchronized
        assert texts(again) == ["still synced"]


async def test_create_describe_and_errors(
    server: RoomServer, tmp_path: Path, room_client: ClientFactory
) -> None:
    async with room_client(server.url, ROOM) as room:
        content = {"notes": {"items": [{"note": {"text": "seeded", "n": 3}}]}}
        await room.sync.create("seeded.notes", json=content)
        with pytest.raises(DocumentExistsError):
            await room.sync.create("seeded.notes")
        described = await room.sync.describe("seeded.notes")
        assert described["notes"]["items"][0]["note"]["n"] == 3
        await room.sync.create("other.txt", schema=NOTES)
        assert sorted(await room.sync.list()) == ["other.txt", "seeded.notes"]
        with pytest.raises(DocumentNotFoundError):
            await room.sync.describe("missing.notes")
        with pytest.raises(DocumentNotFoundError):
            await room.sync.open("missing.notes", create=False)
        assert room.sync.get_open_documents() == {}, "a failed open leaves nothing behind"


async def test_sync_sends_an_encoded_update(server: RoomServer, room_client: ClientFactory) -> None:
    async with room_client(server.url, ROOM, "alice") as alice, room_client(server.url, ROOM, "bob") as bob:
        source = await alice.sync.open("raw.notes")
        await source.synchronized
        before = source.get_state()
        source.root.append_child("note", {"text": "encoded elsewhere"})
        await alice.sync.close("raw.notes")

        await bob.sync.create("copy.notes")
        await bob.sync.sync("copy.notes", source.get_update(before))
        described = await bob.sync.describe("copy.notes")
        assert described["notes"]["items"][0]["note"]["text"] == "encoded elsewhere"


async def test_schema_breaking_updates_are_rejected_and_reported(
    server: RoomServer, room_client: ClientFactory
) -> None:
    async with room_client(server.url, ROOM) as room:
        document = await room.sync.open("strict.notes")
        await document.synchronized
        seen: list[Rejection] = []
        document.on_rejected(seen.append)
        # Bypass the schema checks of MeshDocument, as a buggy or hostile client could.
        root = document.ydoc.get("mesh", type=XmlFragment).children[0]
        assert isinstance(root, XmlElement)
        root.children.append(XmlElement("script", {"$id": "evil0001"}))
        await wait_until(lambda: bool(seen) and len(document) == 1, what="rejected and compensated")
        assert document.rejections == seen
        assert seen[0].violations[0].element_id == "evil0001"
        await room.sync.flush("strict.notes")
        assert (await room.sync.describe("strict.notes"))["notes"]["items"] == []


async def test_bad_tokens_are_refused_with_the_servers_reason(
    server: RoomServer, make_token: MakeToken
) -> None:
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    forged = RoomClient(
        protocol=WebSocketClientProtocol(
            url=url,
            token=make_token(room=ROOM, name="tester", secret="not-the-secret-but-just-as-long-as-it"),
        )
    )
    with pytest.raises(AuthenticationError, match="signature"):
        await forged.start()
    elsewhere = RoomClient(
        protocol=WebSocketClientProtocol(url=url, token=make_token(room="another-room", name="tester"))
    )
    with pytest.raises(PermissionDeniedError, match="does not grant room"):
        await elsewhere.start()


async def test_unreachable_server_fails_fast_with_a_hint(proxy: TcpProxy, room_client: ClientFactory) -> None:
    proxy.offline = True
    with pytest.raises(ConnectionLostError) as caught:
        async with room_client(proxy.url, ROOM, connect_timeout=0.3):
            pass
    assert "mesh-tools serve" in (caught.value.hint or "")


async def test_request_without_answer_times_out(proxy: TcpProxy, room_client: ClientFactory) -> None:
    async with room_client(proxy.url, ROOM, request_timeout=0.3) as room:
        proxy.stall()
        with pytest.raises(RequestTimeoutError, match=r"sync\.list"):
            await room.sync.list()
        proxy.resume()
        assert await room.sync.list() == []


async def _cut_with_requests_in_flight(proxy: TcpProxy, *requests: Awaitable[object]) -> asyncio.Future[Any]:
    """Put ``requests`` on the wire unanswered, then cut the link and refuse reconnects."""
    proxy.stall()
    sent = proxy.bytes_to_server
    pending = asyncio.gather(*requests, return_exceptions=True)
    await wait_until(lambda: proxy.bytes_to_server > sent, what="requests on the wire")
    proxy.offline = True
    proxy.drop()
    proxy.resume()
    return pending


async def test_requests_that_cannot_be_repeated_fail_when_the_connection_drops(
    proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(proxy.url, ROOM, max_reconnect_delay=0.2, request_timeout=0.5) as room:
        pending = await _cut_with_requests_in_flight(
            proxy, room.sync.create("cut.notes"), room.schemas.put("cut", NOTES)
        )
        outcomes = await pending
        assert all(isinstance(outcome, ConnectionLostError) for outcome in outcomes), outcomes
        assert "before sync.create was answered" in str(outcomes[0])
        # Made during the outage: never sent, it waits for the reconnect, and says so if none came.
        with pytest.raises(ConnectionLostError, match="could not be sent"):
            await room.sync.create("later.notes")
        proxy.offline = False
        # The client reconnects by itself.
        assert "cut.notes" in await room.sync.list()


async def test_idempotent_requests_wait_through_an_outage(
    server: RoomServer, proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(server.url, ROOM, "setup") as setup:
        await setup.sync.create("there.notes", {"notes": {"items": [{"note": {"text": "hi", "n": 1}}]}})
    async with room_client(proxy.url, ROOM, max_reconnect_delay=0.2, request_timeout=10) as room:
        pending = await _cut_with_requests_in_flight(
            proxy, room.sync.describe("there.notes"), room.sync.list(), room.schemas.list()
        )
        await wait_until(lambda: not room.is_connected, what="the client notices the drop")
        during = asyncio.gather(
            room.sync.describe("there.notes"),
            room.sync.list(),
            room.sync.open("there.notes", create=False),
            room.sync.open("opened-offline.notes"),
        )
        await asyncio.sleep(0.3)
        assert not pending.done() and not during.done(), "they wait for the reconnect"
        proxy.offline = False
        described, paths, names = await pending
        assert [item["note"]["text"] for item in described["notes"]["items"]] == ["hi"]
        assert paths == ["there.notes"] and names == ["notes"]
        again, listed, there, offline = await during
        assert again == described and listed == ["there.notes"]
        await asyncio.gather(there.synchronized, offline.synchronized)
        assert texts(there) == ["hi"]
        offline.root.append_child("note", {"text": "new", "n": 2})
        await room.sync.flush("opened-offline.notes")
        assert sorted(await room.sync.list()) == ["opened-offline.notes", "there.notes"]


async def test_open_whose_answer_was_lost_is_repeated(
    server: RoomServer, proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(proxy.url, ROOM, "alice", max_reconnect_delay=0.2) as alice:
        pending = await _cut_with_requests_in_flight(proxy, alice.sync.open("lost.notes"))
        proxy.offline = False
        [document] = await pending
        assert isinstance(document, SyncedDocument), document
        await document.synchronized
        document.root.append_child("note", {"text": "after the cut", "n": 1})
        await alice.sync.flush("lost.notes")
        await alice.sync.close("lost.notes")
        assert alice.sync.get_open_documents() == {}, "one open, one reference"
        async with room_client(server.url, ROOM, "bob") as bob:
            described = await bob.sync.describe("lost.notes")
        assert [item["note"]["text"] for item in described["notes"]["items"]] == ["after the cut"]


async def test_idempotent_requests_time_out_if_the_outage_lasts(
    proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(proxy.url, ROOM, max_reconnect_delay=0.2, request_timeout=0.5) as room:
        pending = await _cut_with_requests_in_flight(proxy, room.sync.list(), room.sync.open("x.notes"))
        outcomes = await pending
        assert all(isinstance(outcome, RequestTimeoutError) for outcome in outcomes), outcomes
        await wait_until(lambda: not room.is_connected, what="the client notices the drop")
        for request in (room.sync.describe("x.notes"), room.schemas.list(), room.sync.open("y.notes")):
            with pytest.raises(RequestTimeoutError):
                await request
        assert room.sync.get_open_documents() == {}
        proxy.offline = False
        assert await room.sync.list() == ["x.notes"], (
            "the open in flight reached the server; y.notes never did"
        )


async def test_idempotent_requests_fail_at_once_once_closed(
    proxy: TcpProxy, room_client: ClientFactory
) -> None:
    room = room_client(proxy.url, ROOM, max_reconnect_delay=0.2, request_timeout=30)
    await room.start()
    pending = await _cut_with_requests_in_flight(proxy, room.sync.list())
    await wait_until(lambda: not room.is_connected, what="the client notices the drop")
    waiting = asyncio.ensure_future(room.sync.describe("x.notes"))
    await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        await room.close()
        outcomes = [*(await pending), *(await asyncio.gather(waiting, return_exceptions=True))]
    assert all(isinstance(outcome, ConnectionLostError) for outcome in outcomes), outcomes


async def test_offline_edits_survive_a_reconnect(
    server: RoomServer, proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(proxy.url, ROOM, "alice") as alice, room_client(server.url, ROOM, "bob") as bob:
        mine = await alice.sync.open("shared.notes")
        theirs = await bob.sync.open("shared.notes")
        await asyncio.gather(mine.synchronized, theirs.synchronized)
        mine.root.append_child("note", {"text": "a0"})
        await alice.sync.flush("shared.notes")

        proxy.offline = True
        proxy.drop()
        await wait_until(lambda: not alice.is_connected, what="alice notices the drop")
        assert not mine.is_synchronized
        for i in range(1, 20):
            mine.root.append_child("note", {"text": f"a{i}"})
        theirs.root.append_child("note", {"text": "b0"})
        flushed = asyncio.ensure_future(alice.sync.flush("shared.notes"))
        await asyncio.sleep(0.05)
        assert not flushed.done(), "flush waits for the reconnect"

        proxy.offline = False
        await flushed
        await mine.synchronized
        expected = sorted([f"a{i}" for i in range(20)] + ["b0"])
        await wait_until(lambda: sorted(texts(theirs)) == expected, what="bob has alice's offline edits")
        await wait_until(lambda: texts(mine) == texts(theirs), what="replicas converge")
        assert sorted(texts(mine)) == expected, "nothing lost, nothing doubled"
        assert proxy.connections == 2


async def test_flush_on_a_link_that_just_died_confirms_after_the_resync(
    server: RoomServer, proxy: TcpProxy, room_client: ClientFactory
) -> None:
    async with room_client(proxy.url, ROOM, "alice", max_reconnect_delay=0.2) as alice:
        document = await alice.sync.open("drop.notes")
        await document.synchronized
        document.root.append_child("note", {"text": "sent into a dead socket"})
        proxy.drop()  # the client has not noticed yet: the update and the flush go out on a dead link
        await alice.sync.flush("drop.notes")
        assert proxy.connections == 2
        async with room_client(server.url, ROOM, "bob") as bob:
            described = await bob.sync.describe("drop.notes")
        assert [item["note"]["text"] for item in described["notes"]["items"]] == ["sent into a dead socket"]


async def test_server_restart_resyncs_without_loss_or_duplicates(
    tmp_path: Path, secret: str, room_client: ClientFactory
) -> None:
    first = RoomServer(data_dir=tmp_path, secret=secret)
    await first.start()
    async with (
        TcpProxy(int(first.url.rsplit(":", 1)[1])) as proxy,
        room_client(proxy.url, ROOM, "alice") as alice,
    ):
        await alice.schemas.put("notes", NOTES)
        document = await alice.sync.open("restart.notes")
        await document.synchronized
        document.root.append_child("note", {"text": "before"})
        await alice.sync.flush("restart.notes")
        await first.close()  # graceful: clients get 1012
        await wait_until(lambda: not alice.is_connected, what="alice noticed the server stopped")
        document.root.append_child("note", {"text": "while down"})

        async with RoomServer(data_dir=tmp_path, secret=secret) as second:
            proxy.target_port = int(second.url.rsplit(":", 1)[1])
            await alice.sync.flush("restart.notes")
            document.root.append_child("note", {"text": "after"})
            await alice.sync.flush("restart.notes")
            await alice.sync.close("restart.notes")
            async with room_client(second.url, ROOM, "bob") as bob:
                described = await bob.sync.describe("restart.notes")
    assert [item["note"]["text"] for item in described["notes"]["items"]] == ["before", "while down", "after"]


async def test_replaced_server_copy_is_not_merged(
    tmp_path: Path, secret: str, room_client: ClientFactory
) -> None:
    first = RoomServer(data_dir=tmp_path / "one", secret=secret)
    await first.start()
    async with (
        TcpProxy(int(first.url.rsplit(":", 1)[1])) as proxy,
        room_client(proxy.url, ROOM, "alice") as alice,
    ):
        await alice.schemas.put("notes", NOTES)
        document = await alice.sync.open("epoch.notes")
        await document.synchronized
        await first.close()
        async with RoomServer(data_dir=tmp_path / "two", secret=secret) as second:
            async with room_client(second.url, ROOM, "setup") as setup:
                await setup.schemas.put("notes", NOTES)
                await setup.sync.create("epoch.notes", json={"notes": {"items": [{"note": {"text": "x"}}]}})
            proxy.target_port = int(second.url.rsplit(":", 1)[1])
            with pytest.raises(DocumentNotFoundError, match="replaced on the server"):
                await document.synchronized
            assert isinstance(document.sync_error, DocumentNotFoundError)
            with pytest.raises(DocumentNotFoundError):
                await alice.sync.flush("epoch.notes")
            with pytest.raises(DocumentNotFoundError):
                await alice.sync.close("epoch.notes")
            fresh = await alice.sync.open("epoch.notes")
            await fresh.synchronized
            assert texts(fresh) == ["x"]
            await alice.sync.close("epoch.notes")


async def test_slow_reader_is_evicted_and_resyncs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, secret: str, room_client: ClientFactory
) -> None:
    caplog.set_level(logging.WARNING)

    def evicted() -> bool:
        return any("closing with 1013" in record.getMessage() for record in caplog.records)

    async with (
        RoomServer(data_dir=tmp_path, secret=secret, send_queue_bytes=256 * 1024) as server,
        TcpProxy(int(server.url.rsplit(":", 1)[1])) as proxy,
        room_client(proxy.url, ROOM, "slow") as slow,
        room_client(server.url, ROOM, "fast") as fast,
    ):
        await fast.schemas.put("notes", NOTES)
        mine = await slow.sync.open("flood.notes")
        theirs = await fast.sync.open("flood.notes")
        await asyncio.gather(mine.synchronized, theirs.synchronized)
        proxy.stall()
        mine.root.append_child("note", {"text": "from the slow reader"})
        padding = "x" * 8192
        for batch in range(200):
            if evicted():
                break
            for i in range(20):
                theirs.root.append_child("note", {"text": f"{batch}.{i}:{padding}"})
            await fast.sync.flush("flood.notes")
        assert evicted(), "the server never found the stalled reader too slow"
        proxy.resume()
        await wait_until(lambda: len(texts(mine)) == len(texts(theirs)), what="slow reader resynced")
        await slow.sync.flush("flood.notes")
        await wait_until(lambda: texts(mine) == texts(theirs), what="the evicted reader caught up")
        assert texts(theirs).count("from the slow reader") == 1
    assert proxy.connections == 2
    assert any("(1013)" in record.getMessage() for record in caplog.records if record.name.endswith("room"))
