"""Commit pacing (SQLiteStorage ``commit_interval``): appends that come soon after a commit wait to share
the next one, so steady writes cost few fsyncs; nobody who asks for durability waits for that."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from pycrdt import Doc, Text

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer, SQLiteStorage

from ..support import DOC_SCHEMA, ROOM, RawConnector

#: Far longer than any commit takes here: whatever resolves well before it was not held for company.
_LONG = 60.0


async def test_appends_after_a_commit_wait_for_company_until_a_flush(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "p.sqlite3", commit_interval=_LONG)
    await store.open()
    try:
        await store.create_document(ROOM, "p.doc", schema={}, epoch="e", update=b"\x00\x00")  # a commit
        held = [store.append_update(ROOM, "p.doc", bytes([0, 0])) for _ in range(3)]
        await asyncio.sleep(0.5)
        assert not any(future.done() for future in held), "appends right after a commit were not held"
        await asyncio.wait_for(store.flush(), 20)
        assert all(future.done() and future.exception() is None for future in held)
        stored = await store.load_document(ROOM, "p.doc")
        assert stored is not None and len(stored.updates) == 4
    finally:
        await store.close()


async def test_the_first_append_after_a_quiet_spell_is_committed_at_once(tmp_path: Path) -> None:
    interval = 1.0
    store = SQLiteStorage(tmp_path / "q.sqlite3", commit_interval=interval)
    await store.open()
    try:
        await store.create_document(ROOM, "q.doc", schema={}, epoch="e", update=b"\x00\x00")
        await asyncio.sleep(interval * 1.2)
        started = time.monotonic()
        await store.append_update(ROOM, "q.doc", b"\x00\x00")
        # Held for company it would have waited another interval after the commit of the next append.
        assert time.monotonic() - started < interval
    finally:
        await store.close()


async def test_close_commits_the_appends_held_for_company(tmp_path: Path) -> None:
    source: Doc = Doc()
    text = source.get("t", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text += "created,"
    text += "held"
    path = tmp_path / "c.sqlite3"
    store = SQLiteStorage(path, commit_interval=_LONG)
    await store.open()
    await store.create_document(ROOM, "c.doc", schema={}, epoch="e", update=updates[0])
    held = store.append_update(ROOM, "c.doc", updates[1])
    await asyncio.wait_for(store.close(), 20)
    assert held.done() and held.exception() is None
    reopened = SQLiteStorage(path)
    await reopened.open()
    try:
        stored = await reopened.load_document(ROOM, "c.doc")
    finally:
        await reopened.close()
    assert stored is not None
    replica: Doc = Doc()
    for update in stored.updates:
        replica.apply_update(update)
    assert str(replica.get("t", type=Text)) == "created,held"


async def test_sync_flush_does_not_wait_out_the_commit_interval(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    path = tmp_path / "f.sqlite3"
    async with (
        RoomServer(storage=SQLiteStorage(path, commit_interval=_LONG), secret=secret) as server,
        raw_client(server.url) as client,
    ):
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        doc = await client.open("flush.doc")
        for i in range(5):
            doc.doc.root.append_child("p", {"text": f"p{i}"})
        await asyncio.wait_for(client.request("sync.flush", channel=doc.channel), 20)
        # Committed: another connection to the database sees every update the flush covered.
        with contextlib.closing(sqlite3.connect(path)) as db:
            logged = [data for (data,) in db.execute("SELECT data FROM updates ORDER BY seq")]
        replica = MeshDocument(schema=DOC_SCHEMA)
        replica.apply_updates(logged)  # onto the root every replica starts from
        assert replica.to_json() == doc.doc.to_json()
