"""No participant can degrade the room for the others: presence is one's own, queues are bounded in
bytes, connections per address and handshakes in flight are capped, room schemas need a room-wide token.
Latency figures under a misbehaving client are in bench/isolation.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pycrdt import Awareness, Doc, Encoder, create_awareness_message, create_sync_message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from mesh_tools.errors import PermissionDeniedError
from mesh_tools.server import RateLimits, RoomServer
from mesh_tools.server._rate_limit import TokenBucket
from mesh_tools.sync import FIRST_CHANNEL, PushType, awareness_clocks, encode_binary

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawClient, RawConnector


def _presence(client: int, clock: int, state: str) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(1)
    encoder.write_var_uint(client)
    encoder.write_var_uint(clock)
    encoder.write_var_string(state)
    return create_awareness_message(encoder.to_bytes())


async def test_presence_is_ones_own(
    server: RoomServer, raw_client: RawConnector, make_token: MakeToken
) -> None:
    async with (
        raw_client(server.url) as alice,
        raw_client(server.url, token=make_token(name="mallory")) as mallory,
        raw_client(server.url, token=make_token(name="viewer", read_only=True)) as viewer,
    ):
        a = await alice.open("presence.doc")
        m = await mallory.open("presence.doc")
        v = await viewer.open("presence.doc")
        mine = create_awareness_message(Awareness(a.doc.ydoc).encode_awareness_update([a.doc.ydoc.client_id]))
        await alice.send_frame(a.channel, mine)
        async with asyncio.timeout(5):
            assert await mallory.awareness.get() == (m.channel, mine)
        # Removing or rewriting alice's presence, from another connection, is refused and not relayed.
        for forged in (
            _presence(a.doc.ydoc.client_id, 99, "null"),
            _presence(a.doc.ydoc.client_id, 99, "{}"),
        ):
            await mallory.send_frame(m.channel, forged)
            push = await mallory.next_push()
            assert push.type == PushType.ERROR and push.fields["error"]["code"] == "forbidden"
        # A read-only participant publishes its own presence; phantom crowds are refused.
        await viewer.send_frame(v.channel, _presence(v.doc.ydoc.client_id, 1, '{"user": "viewer"}'))
        crowd = [_presence(1000 + i, 1, "{}") for i in range(5)]
        for message in crowd:
            await mallory.send_frame(m.channel, message)
        push = await mallory.next_push()
        assert push.fields["error"]["code"] == "forbidden" and "at most 4" in push.fields["error"]["message"]
        await alice.request("sync.flush", channel=a.channel)
        seen = []
        while not alice.awareness.empty():
            seen.append(awareness_clocks(alice.awareness.get_nowait()[1]))
    assert any(a.doc.ydoc.client_id in clocks for clocks in seen)
    assert {v.doc.ydoc.client_id: 1} in seen
    assert not any(
        clocks.get(a.doc.ydoc.client_id) == 99 or clocks == {a.doc.ydoc.client_id: None} for clocks in seen
    )
    assert sum(1 for clocks in seen if any(1000 <= client < 1005 for client in clocks)) == 4


async def test_a_path_scoped_token_cannot_set_room_schemas(
    server: RoomServer, raw_client: RawConnector, make_token: MakeToken
) -> None:
    async with raw_client(server.url, token=make_token(paths=["notes/*"])) as scoped:
        with pytest.raises(PermissionDeniedError, match="limited to notes/"):
            await scoped.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
    async with raw_client(server.url, token=make_token(paths=["*"])) as everywhere:
        assert await everywhere.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json()) == {}


async def test_send_queues_are_bounded_in_bytes(tmp_path: Path, secret: str, make_token: MakeToken) -> None:
    async with RoomServer(data_dir=tmp_path, secret=secret, send_queue_bytes=2**20) as server:
        await server.storage.put_schema(ROOM, "doc", DOC_SCHEMA.to_json())
        headers = {"Authorization": f"Bearer {make_token(name='idle')}"}
        # An idle reader: a tiny client-side queue, and it never reads, so TCP pushes back on the server.
        async with connect(f"{server.url}/rooms/{ROOM}", additional_headers=headers, max_queue=1) as idle:
            await idle.send('{"id": 1, "type": "sync.open", "path": "big.doc", "create": true}')
            await idle.send(encode_binary(FIRST_CHANNEL, create_sync_message(Doc())))  # live from here on
            await asyncio.sleep(0.2)
            async with RawClient.connect(server.url, token=make_token(name="writer")) as writer:
                doc = await writer.open("big.doc")
                for i in range(40):
                    doc.doc.root.append_child("p", {"text": f"{i}" + "x" * 200_000})
                await writer.request("sync.flush", channel=doc.channel)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(20):
                    while True:
                        await idle.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_connections_per_address_are_capped(tmp_path: Path, secret: str, make_token: MakeToken) -> None:
    async with RoomServer(data_dir=tmp_path, secret=secret, max_connections_per_address=3) as server:
        port = int(server.url.rsplit(":", 1)[1])
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        headers = {"Authorization": f"Bearer {make_token()}"}
        with pytest.raises((InvalidMessage, ConnectionError, EOFError)):
            async with connect(f"{server.url}/rooms/{ROOM}", additional_headers=headers, open_timeout=5):
                pass
        _, writer = idle.pop()
        writer.close()
        await asyncio.sleep(0.1)
        async with connect(f"{server.url}/rooms/{ROOM}", additional_headers=headers, open_timeout=5) as ok:
            await ok.send('{"id": 1, "type": "sync.list"}')
            assert "paths" in await ok.recv()
        for _, writer in idle:
            writer.close()


def test_a_token_bucket_saves_a_burst_then_paces() -> None:
    bucket = TokenBucket(rate=10.0, burst=3.0)
    assert [bucket.take(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take(1)
    assert 0.05 < wait <= 0.1  # one token at 10 a second
    dropper = TokenBucket(rate=1.0, burst=2.0)
    assert [dropper.try_take(1) for _ in range(4)] == [True, True, False, False]


async def test_an_awareness_flood_is_thinned_and_others_are_served(
    tmp_path: Path, secret: str, make_token: MakeToken
) -> None:
    limits = RateLimits(awareness_per_second=2.0, awareness_burst=5.0)
    async with RoomServer(data_dir=tmp_path, secret=secret, rate_limits=limits) as server:
        await server.storage.put_schema(ROOM, "doc", DOC_SCHEMA.to_json())
        async with (
            RawClient.connect(server.url, token=make_token(name="flood")) as flood,
            RawClient.connect(server.url, token=make_token(name="bob")) as bob,
        ):
            f = await flood.open("busy.doc")
            b = await bob.open("busy.doc")
            for clock in range(1, 101):
                await flood.send_frame(f.channel, _presence(f.doc.ydoc.client_id, clock, "{}"))
            # Others are served at once; the flood beyond its rate is dropped, not queued.
            assert await bob.request("sync.describe", path="busy.doc")
            b.doc.root.append_child("p", {"text": "typed during the flood"})
            await f.wait_for(lambda d: len(d) == 2, what="bob's paragraph", timeout=2)
            await asyncio.sleep(0.5)
            relayed = bob.awareness.qsize()
    assert relayed < 50  # 5 at once, then 2 a second: the rest is dropped


async def test_a_big_document_is_described_off_the_loop_and_never_stale(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        doc = await alice.open("big.doc")
        with doc.doc.transaction():
            for i in range(2_500):  # over the size described on the event loop
                doc.doc.root.append_child("p", {"text": f"p{i}"})
        await alice.request("sync.flush", channel=doc.channel)
        first, second = await asyncio.gather(
            alice.request("sync.describe", path="big.doc"), alice.request("sync.describe", path="big.doc")
        )
        assert first == second and first["json"] == doc.doc.to_json(include_ids=True)
        # A deletion leaves the state vector as it was; the next describe still sees it.
        doc.doc.root.get_children()[0].delete()
        await alice.request("sync.flush", channel=doc.channel)
        after = await alice.request("sync.describe", path="big.doc")
    assert after["json"] == doc.doc.to_json(include_ids=True)
    assert len(after["json"]["doc"]["children"]) == 2_499
