"""Limits: slow readers are evicted with 1013 and resync; documents unload and memory stays flat."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from pathlib import Path

import pytest
from pycrdt import create_sync_message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.sync import encode_binary

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector


async def test_slow_reader_is_evicted_with_1013_and_resyncs(
    tmp_path: Path, secret: str, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret, send_queue_bytes=256 * 1024) as server,
        raw_client(server.url) as writer,
    ):
        await writer.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        source = await writer.open("flood.doc")
        headers = {"Authorization": f"Bearer {make_token(name='sloth')}"}
        # max_queue=1: the client stops reading from the socket as soon as one frame is buffered.
        async with connect(f"{server.url}/rooms/{ROOM}", additional_headers=headers, max_queue=1) as slow:
            await slow.send(json.dumps({"id": 1, "type": "sync.open", "path": "flood.doc"}))
            empty = MeshDocument(schema=DOC_SCHEMA)
            await slow.send(encode_binary(1, create_sync_message(empty.ydoc)))  # go live, then never read
            chunk = "x" * 64 * 1024
            for i in range(400):
                source.doc.root.append_child("p", {"text": f"{i}{chunk}"})
                if i % 20 == 19:
                    await writer.request("sync.flush", channel=source.channel)
                    subscribers = server.rooms[ROOM].documents["flood.doc"].subscribers
                    if any(subscriber.participant.closing for subscriber in subscribers):
                        break  # the slow reader is being closed
            assert i < 399, "the slow reader was never evicted"
            with pytest.raises(ConnectionClosedError):
                async with asyncio.timeout(30):
                    async for _ in slow:  # drain what was buffered, up to the close frame
                        pass
            assert slow.close_code == 1013
        # Reconnecting resyncs everything by state vector: nothing was lost for the slow reader.
        async with raw_client(server.url, token=make_token(name="sloth"), max_size=None) as again:
            replica = await again.open("flood.doc")
            await writer.request("sync.flush", channel=source.channel)
            assert replica.doc.to_json() == source.doc.to_json()


@pytest.mark.slow
async def test_open_close_many_documents_leaves_nothing_resident(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret) as server,
        raw_client(server.url) as client,
    ):
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())

        async def cycle(start: int, stop: int) -> None:
            for i in range(start, stop):
                result = await client.request("sync.open", path=f"many/{i}.doc")
                await client.request("sync.close", channel=result["channel"])
                assert server.resident_documents == 0

        await cycle(0, 200)  # warm caches (SQLite statements, schema parsing, interned strings)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await cycle(200, 1000)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # 800 more documents opened and closed: what stays must not scale with them (< 200 B each).
        assert growth < 800 * 200, growth
        assert list(server.rooms) == [ROOM]  # only the connected participant keeps the room
        assert server.rooms[ROOM].documents == {}


async def test_unused_document_stays_loaded_for_keep_loaded_then_unloads(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret, keep_loaded=0.5) as server,
        raw_client(server.url) as client,
    ):
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        first = await client.request("sync.open", path="kept.doc")
        loaded = server.rooms[ROOM].documents["kept.doc"]
        await client.request("sync.close", channel=first["channel"])
        assert server.resident_documents == 1, "unloaded at once despite keep_loaded"
        # Reopened within the grace period: the same loaded document, no reload.
        again = await client.request("sync.open", path="kept.doc")
        assert server.rooms[ROOM].documents["kept.doc"] is loaded
        await client.request("sync.close", channel=again["channel"])
        await asyncio.sleep(0.3)
        assert server.resident_documents == 1, "the reopen did not restart the grace period"
        async with asyncio.timeout(5):
            while server.resident_documents:
                await asyncio.sleep(0.05)
        assert loaded.closed
