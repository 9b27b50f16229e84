"""Hostile updates against a cluster: two nodes on one PostgreSQL and the real Redis bus.

A participant of node a cannot get an invalid state into node b or into storage by any path, and an
entry written straight into the document's Redis stream (by anyone who can reach Redis, or by a node
of an older version) is refused by the node that reads it, which then reloads from storage. The same
hostile update gives the same document alone and in a cluster (docs/adr/0011-cluster.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pycrdt import create_update_message, merge_updates

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, ROOM, RawClient, RawConnector, RawDocument, RawItem, craft_update
from .conftest import NodeFactory
from .test_hostile_updates import INTO_HELD, THROUGH_SERVER, _held_paragraph

pytestmark = pytest.mark.cluster

PATH = "target.doc"
#: A few of each kind: unrepairable, into held content, and an element taking a held id.
CASES = ["delete the root", "imposter root before the real one", *INTO_HELD]


async def _honest_document(client: RawClient) -> RawDocument:
    honest = await client.open(PATH)
    honest.doc.root.set_attribute("title", "kept")
    honest.doc.root.append_json({"p": {"$id": "owner", "text": "honest content"}})
    await client.request("sync.flush", channel=honest.channel)
    return honest


async def _send_refused(client: RawClient, document: RawDocument, update: bytes) -> None:
    await client.send_frame(document.channel, create_update_message(update))
    push = await client.next_push()
    assert push.type == PushType.ERROR and push.fields["error"]["code"] == "update_refused", push


async def test_a_hostile_participant_of_one_node_reaches_neither_the_other_node_nor_storage(
    node: NodeFactory, raw_client: RawConnector
) -> None:
    async with node() as a, node() as b, raw_client(a.url) as alice, raw_client(a.url) as mallory:
        await alice.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        honest = await _honest_document(alice)
        async with raw_client(b.url) as bob:
            on_b = await bob.open(PATH, create=False)
            attacker = await mallory.open(PATH, create=False)
            expected = honest.doc.to_json(include_ids=True)
            for name in CASES:
                await _send_refused(mallory, attacker, THROUGH_SERVER[name](attacker.doc.get_update()))
            # An honest edit after them all still crosses: the bus carried nothing before it.
            honest.doc.root.append_child("p", {"text": "after"})
            await on_b.wait_for(lambda d: len(d) == 3, what="the honest edit from node a")
            assert on_b.doc.to_json(include_ids=True) == honest.doc.to_json(include_ids=True)
            assert bob.pushes.empty()
            replica_b = b.rooms[ROOM].documents[PATH].doc
            assert replica_b.validate() == []
            assert replica_b.to_json(include_ids=True)["doc"]["children"][0] == expected["doc"]["children"][0]
        await alice.request("sync.flush", channel=honest.channel)
        stored = await a.storage.load_document(ROOM, PATH)
        assert stored is not None
        from_storage = MeshDocument(schema=DOC_SCHEMA)
        from_storage.apply_update(merge_updates(*stored.updates))
        assert from_storage.validate() == []
        assert from_storage.to_json(include_ids=True) == honest.doc.to_json(include_ids=True)


async def test_a_bus_entry_that_fails_the_guard_is_refused_and_the_node_heals_from_storage(
    node: NodeFactory, raw_client: RawConnector, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mesh_tools.server")
    async with node() as a, node() as b, raw_client(a.url) as alice, raw_client(b.url) as bob:
        await alice.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        honest = await _honest_document(alice)
        on_b = await bob.open(PATH, create=False)
        replica_b = b.rooms[ROOM].documents[PATH].doc
        # An honest edit that storage holds but no node published (say, its node died before it could).
        writer = MeshDocument(schema=DOC_SCHEMA)
        writer.apply_update(honest.doc.get_update())
        before = writer.get_state()
        writer.root.append_child("p", {"text": "only in storage"})
        await a.storage.append_update(ROOM, PATH, writer.get_update(before))
        # An entry written straight into the stream: root deletion and characters in a held element,
        # merged with that honest edit, as a node of an older version might have published them.
        element, _ = _held_paragraph(honest.doc.get_update())
        hostile = merge_updates(
            writer.get_update(before),
            craft_update(4242, 0, [RawItem(element, text="hidden")], {0: [(0, 1)]}),
        )
        redis = aioredis.from_url(redis_url)
        try:
            await redis.xadd(f"mesh:doc:{ROOM}:{PATH}", {b"n": b"intruder", b"u": hostile})
        finally:
            await redis.aclose()
        await on_b.wait_for(lambda d: len(d) == 3, what="the edit healed from storage", timeout=10)
        assert "refused an update of lab/target.doc from the bus" in caplog.text
        assert replica_b.validate() == []
        assert replica_b.root.id == "root" and replica_b.get_element("owner") is not None
        assert "hidden" not in str(replica_b.root._xml)
        assert on_b.doc.to_json(include_ids=True) == replica_b.to_json(include_ids=True)
        # Node b keeps following the stream: later edits from node a still arrive.
        honest.doc.root.append_child("p", {"text": "later"})
        await on_b.wait_for(lambda d: len(d) == 4, what="a later edit from node a")


def _deployment_result(hostile_name: str) -> Callable[[str, RawConnector], Awaitable[dict[str, Any]]]:
    """What a server (alone or a cluster's node) keeps of an honest document after one hostile update."""

    async def run(url: str, connect: RawConnector) -> dict[str, Any]:
        async with connect(url) as alice, connect(url) as mallory:
            await alice.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
            honest = await _honest_document(alice)
            attacker = await mallory.open(PATH, create=False)
            await _send_refused(mallory, attacker, THROUGH_SERVER[hostile_name](attacker.doc.get_update()))
            await alice.request("sync.flush", channel=honest.channel)
            result: dict[str, Any] = await alice.request("sync.describe", path=PATH)
            return result["json"]

    return run


@pytest.mark.parametrize(
    "hostile", ["a new element with a held element's id", "imposter root before the real one"]
)
async def test_one_hostile_update_gives_one_document_alone_and_in_a_cluster(
    hostile: str, node: NodeFactory, raw_client: RawConnector, tmp_path: Path, secret: str
) -> None:
    run = _deployment_result(hostile)
    async with RoomServer(data_dir=tmp_path / "alone", secret=secret) as alone:
        single = await run(alone.url, raw_client)
    async with node() as a, node():
        clustered = await run(a.url, raw_client)
    assert single == clustered
    assert single["doc"]["children"] == [{"p": {"$id": "owner", "text": "honest content"}}]
