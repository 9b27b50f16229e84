"""Several room servers on one PostgreSQL and one Redis serve the same rooms (docs/adr/0011-cluster.md)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pycrdt import Awareness, Doc, XmlElement, XmlFragment, create_awareness_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.errors import StorageUnavailableError
from mesh_tools.server import PostgresStorage, RedisBus, RoomServer
from mesh_tools.sync import awareness_clocks

from ..support import DOC_SCHEMA, ROOM, RawClient, RawConnector, RawDocument, TcpProxy, ThrowawayService
from .conftest import NodeFactory

pytestmark = pytest.mark.cluster


@contextlib.asynccontextmanager
async def _two_nodes(
    node: NodeFactory, connect: RawConnector
) -> AsyncIterator[tuple[RoomServer, RoomServer, RawClient, RawClient]]:
    """Nodes a and b, alice connected to a and bob to b; the room has the test schema."""
    async with node() as a, node() as b, connect(a.url) as alice, connect(b.url) as bob:
        await alice.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        yield a, b, alice, bob


def _texts(doc: RawDocument) -> list[str]:
    return [child.attributes.get("text", "") for child in doc.doc.root.get_children()]


async def _converged(
    docs: list[RawDocument], predicate: Callable[[Any], bool], timeout: float = 10.0
) -> None:
    await asyncio.gather(*(doc.wait_for(predicate, what="convergence", timeout=timeout) for doc in docs))
    first = docs[0].doc.to_json(include_ids=True)
    for doc in docs[1:]:
        assert doc.doc.to_json(include_ids=True) == first


async def test_edits_on_one_node_reach_clients_of_another(
    node: NodeFactory, raw_client: RawConnector
) -> None:
    async with _two_nodes(node, raw_client) as (_, _, alice, bob):
        on_a = await alice.open("shared.doc")
        on_b = await bob.open("shared.doc", create=False)
        assert on_a.epoch == on_b.epoch
        on_a.doc.root.append_child("p", {"text": "from a"})
        on_b.doc.root.append_child("p", {"text": "from b"})
        await _converged([on_a, on_b], lambda d: len(d.root.get_children()) == 2)
        assert sorted(_texts(on_a)) == ["from a", "from b"]
        await alice.request("sync.flush", channel=on_a.channel)
        # A third node that opens the document late catches up from storage and the stream.
        async with node() as c, raw_client(c.url) as carol:
            on_c = await carol.open("shared.doc", create=False)
            on_c.doc.root.append_child("p", {"text": "from c"})
            await _converged([on_a, on_b, on_c], lambda d: len(d.root.get_children()) == 3)


async def test_awareness_crosses_nodes_and_leaves_with_the_channel(
    node: NodeFactory, raw_client: RawConnector
) -> None:
    async with _two_nodes(node, raw_client) as (_, _, alice, bob):
        on_a = await alice.open("presence.doc")
        on_b = await bob.open("presence.doc", create=False)
        presence = Awareness(on_a.doc.ydoc)
        presence.set_local_state({"user": "alice", "cursor": 3})
        message = create_awareness_message(presence.encode_awareness_update([on_a.doc.ydoc.client_id]))
        await alice.send_frame(on_a.channel, message)
        async with asyncio.timeout(5):
            assert await bob.awareness.get() == (on_b.channel, message)
        await alice.request("sync.close", channel=on_a.channel)
        async with asyncio.timeout(5):
            channel, removal = await bob.awareness.get()
        assert channel == on_b.channel
        assert awareness_clocks(removal) == {on_a.doc.ydoc.client_id: None}


def _health(server: RoomServer, path: str) -> tuple[int, dict[str, Any]]:
    url = server.url.replace("ws://", "http://") + path
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def _wait_health(server: RoomServer, status: int, timeout: float = 20.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            code, report = await asyncio.to_thread(_health, server, "/healthz/ready")
            if code == status:
                return report
            await asyncio.sleep(0.1)


async def test_redis_restart_delays_fan_out_but_loses_nothing(
    node: NodeFactory, raw_client: RawConnector, redis_service: ThrowawayService
) -> None:
    async with _two_nodes(node, raw_client) as (a, b, alice, bob):
        on_a = await alice.open("bus.doc")
        on_b = await bob.open("bus.doc", create=False)
        on_a.doc.root.append_child("p", {"text": "before"})
        await _converged([on_a, on_b], lambda d: len(d.root.get_children()) == 1)
        assert await asyncio.to_thread(_health, a, "/healthz/ready") == (
            200,
            {"live": True, "ready": True, "storage": True, "bus": True},
        )
        await asyncio.to_thread(redis_service.stop)
        report = await _wait_health(a, 503)
        assert report == {"live": True, "ready": False, "storage": True, "bus": False}
        assert (await asyncio.to_thread(_health, a, "/healthz/live"))[0] == 200
        # Storage still takes writes: they are durable now and reach the other node later.
        on_a.doc.root.append_child("p", {"text": "during"})
        await alice.request("sync.flush", channel=on_a.channel)
        # A document first opened while Redis is away is caught up once it is back.
        late_a = await alice.open("late.doc")
        late_b = await bob.open("late.doc", create=False)
        late_a.doc.root.append_child("p", {"text": "written before b could follow"})
        await alice.request("sync.flush", channel=late_a.channel)
        await asyncio.to_thread(redis_service.start)
        await _wait_health(a, 200)
        await _wait_health(b, 200)
        on_b.doc.root.append_child("p", {"text": "after"})
        await _converged([on_a, on_b], lambda d: len(d.root.get_children()) == 3)
        assert sorted(_texts(on_a)) == ["after", "before", "during"]
        await _converged([late_a, late_b], lambda d: len(d.root.get_children()) == 1)


async def test_postgres_restart_refuses_writes_then_recovers(
    node: NodeFactory, raw_client: RawConnector, postgres_service: ThrowawayService
) -> None:
    async with _two_nodes(node, raw_client) as (a, b, alice, bob):
        on_a = await alice.open("db.doc")
        on_b = await bob.open("db.doc", create=False)
        on_a.doc.root.append_child("p", {"text": "kept"})
        await alice.request("sync.flush", channel=on_a.channel)
        await asyncio.to_thread(postgres_service.stop)
        try:
            report = await _wait_health(b, 503)
            assert report["storage"] is False and report["bus"] is True
            # The write cannot be made durable: the channel is closed with a typed error, and
            # nothing reaches the other node.
            on_a.doc.root.append_child("p", {"text": "refused, then resent"})
            push = await alice.next_push(timeout=10)
            assert push.type == "sync.closed" and push.fields["channel"] == on_a.channel
            assert push.fields["error"]["code"] == "storage_unavailable"
            with pytest.raises(StorageUnavailableError):
                await alice.request("sync.list")
        finally:
            await asyncio.to_thread(postgres_service.start)
        await _wait_health(a, 200)
        # Reconnecting clients resync: the participant's replica still holds the refused edit.
        state = base64.b64encode(on_a.doc.ydoc.get_update()).decode()
        await alice.request("sync.sync", path="db.doc", data=state)
        await on_b.wait_for(lambda d: len(d.root.get_children()) == 2, what="the resent edit", timeout=10)
        assert sorted(_texts(on_b)) == ["kept", "refused, then resent"]


def _insert_with_id(base: MeshDocument, element_id: str, text: str) -> bytes:
    """An update, made on a copy of ``base``, that appends a <p> with a chosen (maybe taken) id."""
    ydoc: Doc = Doc()
    ydoc.apply_update(base.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    root.children.append(XmlElement("p", {"$id": element_id, "text": text}))
    return ydoc.get_update(state)


async def test_nodes_mending_one_violation_converge_to_one_repair(
    node: NodeFactory, raw_client: RawConnector
) -> None:
    async with _two_nodes(node, raw_client) as (a, b, alice, bob):
        for round_ in range(6):
            path = f"race-{round_}.doc"
            on_a = await alice.open(path)
            on_b = await bob.open(path, create=False)
            # Each update is valid alone; together they give two elements one id. Sent at once to
            # different nodes, each node finds the duplicate when the other's update arrives (or
            # when its own does), and each mends it.
            one = _insert_with_id(on_a.doc, "same", "via a")
            two = _insert_with_id(on_b.doc, "same", "via b")
            await asyncio.gather(
                alice.request("sync.sync", path=path, data=base64.b64encode(one).decode()),
                bob.request("sync.sync", path=path, data=base64.b64encode(two).decode()),
            )

            def mended(doc: MeshDocument) -> bool:
                children = doc.to_json(include_ids=True)["doc"].get("children", [])
                ids = {child["p"]["$id"] for child in children}
                return len(children) == 2 and len(ids) == 2 and not doc.validate()

            await _converged([on_a, on_b], mended)
            await asyncio.sleep(0.2)  # let any second repair arrive: it must change nothing
            servers = [server.rooms[ROOM].documents[path].doc for server in (a, b)]
            expected = on_a.doc.to_json(include_ids=True)
            for replica in [on_a.doc, on_b.doc, *servers]:
                assert replica.to_json(include_ids=True) == expected
            texts = [child["p"]["text"] for child in expected["doc"]["children"]]
            assert sorted(texts) == ["via a", "via b"]


async def test_a_node_that_falls_behind_the_stream_window_reloads_what_was_trimmed(
    postgres_url: str, redis_url: str, secret: str, raw_client: RawConnector
) -> None:
    # Node a reads Redis through a relay the test stalls for longer than the streams' window, while
    # node b keeps adding (and so trimming): what a missed from the stream must come from storage.
    retention = 0.2
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    async with TcpProxy(redis_port) as relay:
        relayed = f"redis://127.0.0.1:{relay.url.rsplit(':', 1)[1]}/0"
        a = RoomServer(
            storage=PostgresStorage(postgres_url), bus=RedisBus(relayed, retention=retention), secret=secret
        )
        b = RoomServer(
            storage=PostgresStorage(postgres_url), bus=RedisBus(redis_url, retention=retention), secret=secret
        )
        async with a, b, raw_client(a.url) as alice, raw_client(b.url) as bob:
            await alice.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
            on_a = await alice.open("window.doc")
            on_b = await bob.open("window.doc", create=False)
            relay.stall()
            for n in range(30):
                on_b.doc.root.append_child("p", {"text": f"b{n}"})
                await asyncio.sleep(0.05)  # 1.5 s of edits: seven windows' worth
            await bob.request("sync.flush", channel=on_b.channel)
            relay.resume()
            await _converged([on_a, on_b], lambda d: len(d.root.get_children()) == 30)


async def test_a_document_busy_applying_does_not_hold_back_the_others_on_its_node(
    node: NodeFactory, raw_client: RawConnector
) -> None:
    async with _two_nodes(node, raw_client) as (_, b, alice, bob):
        slow_a = await alice.open("slow.doc")
        quick_a = await alice.open("quick.doc")
        slow_b = await bob.open("slow.doc", create=False)
        quick_b = await bob.open("quick.doc", create=False)
        # Stands for a big bus update being checked: node b's replica of slow.doc applies nothing.
        async with b.rooms[ROOM].documents["slow.doc"]._worker:
            slow_a.doc.root.append_child("p", {"text": "waits"})
            await alice.request("sync.flush", channel=slow_a.channel)
            quick_a.doc.root.append_child("p", {"text": "passes"})
            await quick_b.wait_for(lambda d: len(d.root.get_children()) == 1, what="quick.doc", timeout=10)
            assert slow_b.doc.root.get_children() == []
        await slow_b.wait_for(lambda d: len(d.root.get_children()) == 1, what="slow.doc", timeout=10)
