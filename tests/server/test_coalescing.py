"""Coalesce, don't evict: a reader that falls behind gets its pending updates merged, not a 1013."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from mesh_tools.server import RoomServer

from ..support import NOTES, NOTES_ROOM, ClientFactory, TcpProxy, texts, wait_until


async def test_stalled_reader_gets_many_edits_merged_and_stays_connected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, secret: str, room_client: ClientFactory
) -> None:
    caplog.set_level(logging.WARNING)
    async with (
        RoomServer(data_dir=tmp_path, secret=secret, send_queue_bytes=1 << 20) as server,
        TcpProxy(int(server.url.rsplit(":", 1)[1])) as proxy,
        room_client(proxy.url, NOTES_ROOM, "slow") as slow,
        room_client(server.url, NOTES_ROOM, "fast") as fast,
    ):
        await fast.schemas.put("notes", NOTES)
        mine = await slow.sync.open("busy.notes")
        theirs = await fast.sync.open("busy.notes")
        await asyncio.gather(mine.synchronized, theirs.synchronized)
        note = theirs.root.append_child("note", {"text": "0"})
        await fast.sync.flush("busy.notes")
        await wait_until(lambda: texts(mine) == ["0"], what="the reader has the note")
        proxy.stall()
        edits = 3000
        for i in range(1, edits + 1):
            note.set_attribute("text", str(i))  # ~30 bytes per update, 3000 frames before merging
            if i % 500 == 0:
                await fast.sync.flush("busy.notes")
        participant = next(
            s.participant
            for s in server.rooms[NOTES_ROOM].documents["busy.notes"].subscribers
            if s.participant.token.name == "slow"
        )
        # Everything the stalled reader missed waits as one merged entry (plus what the socket holds).
        assert len(participant._queue) <= 2
        assert not participant.closing
        proxy.resume()
        await wait_until(lambda: texts(mine) == [str(edits)], what="the stalled reader caught up")
    assert proxy.connections == 1
    assert not any("1013" in record.getMessage() for record in caplog.records)


@pytest.mark.slow
async def test_one_client_opening_500_documents_at_once_synchronizes(
    tmp_path: Path, secret: str, room_client: ClientFactory
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret) as server,
        room_client(server.url, NOTES_ROOM, "opener") as client,
    ):
        await client.schemas.put("notes", NOTES)
        documents = await asyncio.gather(*(client.sync.open(f"many/{i}.notes") for i in range(500)))
        async with asyncio.timeout(120):
            await asyncio.gather(*(document.synchronized for document in documents))
        for i, document in enumerate(documents):
            document.root.append_child("note", {"text": f"n{i}"})
        for i in range(500):
            await client.sync.flush(f"many/{i}.notes")
        assert server.resident_documents == 500
