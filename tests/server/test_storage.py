"""Storage: the update log with group commit and compaction, on SQLite and on PostgreSQL; durability
across restarts and SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sqlite3
import subprocess
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycrdt import Doc, Map, Text, merge_updates

from mesh_tools.document import MeshDocument
from mesh_tools.errors import DocumentExistsError, ServerError
from mesh_tools.server import PostgresStorage, RoomServer, SQLiteStorage, Storage, StoredDocument
from mesh_tools.server._memory import MemoryTrimmer
from mesh_tools.server._room import Room
from mesh_tools.server._room_server import DATABASE_NAME
from mesh_tools.server._sqlite_storage import _SCHEMA_SQL, _read_log

from ..support import DOC_SCHEMA, ROOM, RawConnector


@dataclass
class Backend:
    """One storage engine under test: new storages on one database, and a look at its log table."""

    name: str
    #: A new storage on the database; keyword arguments are the backend's options (``compact_rows``...).
    make: Callable[..., Storage]
    log_table: str
    run_sql: Callable[[str], object]

    def log_rows(self) -> int:
        result = self.run_sql(f"SELECT count(*) FROM {self.log_table}")
        assert isinstance(result, int)
        return result

    def drop_log(self) -> None:
        self.run_sql(f"DROP TABLE {self.log_table}")


def _sqlite_backend(path: Path) -> Backend:
    def run_sql(sql: str) -> object:
        with sqlite3.connect(path) as db:
            row = db.execute(sql).fetchone()
            return None if row is None else row[0]

    return Backend("sqlite", lambda **options: SQLiteStorage(path, **options), "updates", run_sql)


def _postgres_backend(url: str) -> Backend:
    import psycopg

    def run_sql(sql: str) -> object:
        with psycopg.connect(url, autocommit=True) as db:
            cursor = db.execute(sql)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]

    return Backend("postgresql", lambda **options: PostgresStorage(url, **options), "mesh_updates", run_sql)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.cluster)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return _sqlite_backend(tmp_path / "s.sqlite3")
    return _postgres_backend(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    store = backend.make(compact_rows=10)
    await store.open()
    yield store
    await store.close()


async def _log_shrinks_to(backend: Backend, rows: int) -> int:
    """The log's row count once it is at most ``rows``, or after 20 s (folds that finish after the flush)."""
    deadline = time.monotonic() + 20
    while (count := await asyncio.to_thread(backend.log_rows)) > rows and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return count


async def _load_after_reopening(backend: Backend, path: str) -> StoredDocument | None:
    """The document as a new storage on the database loads it (the previous one closed: folded)."""
    reopened = backend.make()
    await reopened.open()
    try:
        return await reopened.load_document(ROOM, path)
    finally:
        await reopened.close()


def _text_updates(count: int) -> tuple[list[bytes], str]:
    doc: Doc = Doc()
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text += f"{i},"
    return updates, str(text)


def _replay(updates: list[bytes]) -> str:
    doc: Doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("t", type=Text))


async def test_log_round_trip_in_order(storage: Storage) -> None:
    updates, expected = _text_updates(8)
    await storage.create_document(ROOM, "a.doc", schema={"s": 1}, epoch="e1", update=updates[0])
    with pytest.raises(DocumentExistsError):
        await storage.create_document(ROOM, "a.doc", schema={}, epoch="e2", update=b"")
    # Group commit: all appends of one burst land in few transactions; every future resolves.
    await asyncio.gather(*(storage.append_update(ROOM, "a.doc", u) for u in updates[1:]))
    stored = await storage.load_document(ROOM, "a.doc")
    assert stored is not None
    assert (stored.schema, stored.epoch) == ({"s": 1}, "e1")
    assert stored.updates == updates
    assert await storage.load_document(ROOM, "b.doc") is None
    assert await storage.load_document("other-room", "a.doc") is None
    assert await storage.list_documents(ROOM) == ["a.doc"]
    await storage.put_schema(ROOM, "doc", {"v": 1})
    await storage.put_schema(ROOM, "doc", {"v": 2})
    assert await storage.get_schema(ROOM, "doc") == {"v": 2}
    assert await storage.list_schemas(ROOM) == ["doc"]
    assert _replay(stored.updates) == expected


async def test_a_log_of_small_and_big_rows_loads_in_order(storage: Storage) -> None:
    # SQLite reads big rows alone, as blobs, and the rest together as JSON: the order must hold across.
    doc: Doc = Doc()
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for piece in ("a", "b" * 300 * 2**10, "c", "d" * 2 * 2**20, "e"):
        text += piece
    await storage.create_document(ROOM, "a.doc", schema={}, epoch="e1", update=updates[0])
    await asyncio.gather(*(storage.append_update(ROOM, "a.doc", update) for update in updates[1:]))
    stored = await storage.load_document(ROOM, "a.doc")
    assert stored is not None and _replay(stored.updates) == str(text)


def test_sqlite_reads_big_rows_alone_and_keeps_the_log_in_order(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "log.sqlite3")
    db.executescript(_SCHEMA_SQL)
    rows = [b"small 1", os.urandom(300 * 2**10), b"small 2", b"\x00" * (2 * 2**20), b"small 3"]
    db.executemany(
        "INSERT INTO updates (room, path, data) VALUES (?, ?, ?)", [(ROOM, "a.doc", r) for r in rows]
    )
    assert _read_log(db, (ROOM, "a.doc"), 0) == (rows, 5)
    assert _read_log(db, (ROOM, "a.doc"), 1, limit=3) == (rows[1:4], 4)


async def test_compaction_folds_the_log_and_keeps_pending_structs(backend: Backend) -> None:
    updates, expected = _text_updates(40)
    store = backend.make(compact_rows=10)
    await store.open()
    await store.create_document(ROOM, "c.doc", schema={}, epoch="e", update=b"\x00\x00")
    # Out of order: until the first update arrives, the others cannot integrate into a Doc. A
    # snapshot taken from a live Doc would drop them; merge_updates keeps them.
    for update in [*updates[1:], updates[0]]:
        store.append_update(ROOM, "c.doc", update)
    # Compaction starts right after the batch that crossed the threshold; SQLite computes the new
    # snapshot beside the writer, so the log shrinks a little after the flush.
    await store.flush()
    assert await _log_shrinks_to(backend, 10) <= 10
    if backend.name == "sqlite":  # SQLite marks how far the snapshot goes; PostgreSQL deletes what it folds
        assert int(str(backend.run_sql("SELECT upto FROM snapshots"))) > 0
    stored = await store.load_document(ROOM, "c.doc")
    assert stored is not None and _replay(stored.updates) == expected
    await store.close()
    # Closing folds what is left: the log is empty and the snapshot alone holds everything.
    assert backend.log_rows() == 0
    if backend.name == "sqlite":
        assert backend.run_sql("PRAGMA journal_mode") == "wal"
    reopened = backend.make(compact_rows=500)
    await reopened.open()
    stored = await reopened.load_document(ROOM, "c.doc")
    await reopened.close()
    assert stored is not None and len(stored.updates) == 1 and _replay(stored.updates) == expected


def _overwrites(count: int) -> tuple[list[bytes], dict[str, object], int]:
    """``count`` updates that keep rewriting ten map entries, the final values, and the live state's size."""
    doc: Doc = Doc()
    values = doc.get("m", type=Map)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        values[f"k{i % 10}"] = f"value number {i} of an overwrite-heavy document"
    return updates, values.to_py(), len(doc.get_update())


def _map_of(updates: list[bytes]) -> dict[str, object]:
    doc: Doc = Doc()
    doc.apply_update(merge_updates(*updates))
    return doc.get("m", type=Map).to_py()


async def test_compaction_by_size_drops_overwritten_values_and_keeps_every_update(backend: Backend) -> None:
    updates, expected, live = _overwrites(3000)
    # Folded whenever the log outgrows a tenth of the snapshot, or 2,000 bytes: many times in this test.
    store = backend.make(compact_rows=10**6, compact_bytes=2000, compact_ratio=0.1)
    await store.open()
    try:
        await store.create_document(ROOM, "o.doc", schema={}, epoch="e", update=updates[0])
        # Appended in bursts, so compactions run between batches while more appends are queued.
        for start in range(1, len(updates), 250):
            await asyncio.gather(
                *(store.append_update(ROOM, "o.doc", u) for u in updates[start : start + 250])
            )
        await store.flush()
        # Folded while running, after the last burst too, and the snapshot holds the live state, not the
        # 3,000 values written.
        assert await _log_shrinks_to(backend, 99) < 100
        stored = await store.load_document(ROOM, "o.doc")
        assert stored is not None and _map_of(stored.updates) == expected
        assert len(stored.updates[0]) < 2 * live
        assert sum(map(len, stored.updates)) < 3 * live + 4000
    finally:
        await store.close()
    stored = await _load_after_reopening(backend, "o.doc")
    assert stored is not None and len(stored.updates) == 1 and _map_of(stored.updates) == expected


async def test_an_old_log_is_compacted_while_running(backend: Backend) -> None:
    updates, expected = _text_updates(5)
    store = backend.make(compact_age=0.2)
    await store.open()
    try:
        await store.create_document(ROOM, "a.doc", schema={}, epoch="e", update=updates[0])
        await asyncio.gather(*(store.append_update(ROOM, "a.doc", u) for u in updates[1:]))
        assert backend.log_rows() == 4
        # Nothing more is written: the writer wakes up by itself to fold the log once it is old, and
        # (SQLite) an idle writer then checkpoints and truncates the WAL: waited for too, since the
        # fold's commit shows before the truncation that follows it.
        wal = None
        if backend.name == "sqlite":
            wal = Path(str(backend.run_sql("SELECT file FROM pragma_database_list")) + "-wal")
        async with asyncio.timeout(20):
            while await asyncio.to_thread(backend.log_rows) or (wal is not None and wal.stat().st_size):
                await asyncio.sleep(0.1)
        stored = await store.load_document(ROOM, "a.doc")
        assert stored is not None and len(stored.updates) == 1 and _replay(stored.updates) == expected
    finally:
        await store.close()


async def test_sqlite_files_stay_within_three_times_the_live_state_while_folding_under_load(
    tmp_path: Path,
) -> None:
    """Database + WAL, sampled every millisecond while folds run between bursts of appends (the writer is
    never idle, so nothing is vacuumed), stay within the bound of ADR 0015 for a 400 KB document."""
    doc: Doc = Doc()
    values = doc.get("m", type=Map)
    values.update({f"big{i}": os.urandom(500).hex() for i in range(400)})  # random: SQLite does not pack it
    first = doc.get_update()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(3000):
        values[f"k{i % 10}"] = f"value {i}"
    live = len(doc.get_update())
    database = tmp_path / "b.sqlite3"
    worst = 0
    sampling = True

    def sample() -> None:
        nonlocal worst
        while sampling:
            worst = max(worst, sum(p.stat().st_size for p in tmp_path.glob("b.sqlite3*")))
            time.sleep(0.001)

    store = SQLiteStorage(database, compact_rows=300)
    await store.open()
    sampler = asyncio.create_task(asyncio.to_thread(sample))
    try:
        await store.create_document(ROOM, "b.doc", schema={}, epoch="e", update=first)
        for start in range(0, len(updates), 250):
            await asyncio.gather(
                *(store.append_update(ROOM, "b.doc", u) for u in updates[start : start + 250])
            )
        await store.flush()
        stored = await store.load_document(ROOM, "b.doc")
        assert stored is not None and _map_of(stored.updates) == values.to_py()
    finally:
        sampling = False
        await sampler
        await store.close()
    assert worst <= 3 * live


@pytest.mark.cluster
async def test_two_nodes_compacting_one_document_lose_no_update(postgres_url: str) -> None:
    """Two processes share PostgreSQL: each folds the log while the other appends; nothing is lost."""
    backend = _postgres_backend(postgres_url)
    updates, expected = _text_updates(1200)
    nodes = [backend.make(compact_rows=15, compact_bytes=100) for _ in range(2)]
    for node in nodes:
        await node.open()
    try:
        await nodes[0].create_document(ROOM, "shared.doc", schema={}, epoch="e", update=updates[0])

        async def write(node: Storage, mine: list[bytes]) -> None:
            for start in range(0, len(mine), 20):
                await asyncio.gather(
                    *(node.append_update(ROOM, "shared.doc", u) for u in mine[start : start + 20])
                )

        # Interleaved halves: each node's rows depend on the other's, so a lost row breaks the text.
        await asyncio.gather(write(nodes[0], updates[1::2]), write(nodes[1], updates[2::2]))
        for node in nodes:
            await node.flush()
        for node in nodes:
            stored = await node.load_document(ROOM, "shared.doc")
            assert stored is not None and _replay([merge_updates(*stored.updates)]) == expected
    finally:
        for node in nodes:
            await node.close()
    assert backend.log_rows() == 0
    reopened = backend.make()
    await reopened.open()
    try:
        stored = await reopened.load_document(ROOM, "shared.doc")
        assert stored is not None and _replay(stored.updates) == expected
    finally:
        await reopened.close()


async def test_write_errors_propagate(backend: Backend, storage: Storage) -> None:
    await storage.create_document(ROOM, "e.doc", schema={}, epoch="e", update=b"\x00\x00")
    await asyncio.to_thread(backend.drop_log)
    with pytest.raises(ServerError, match="storage failed"):
        await storage.append_update(ROOM, "e.doc", b"\x00\x00")
    if backend.name == "postgresql":
        # PostgreSQL fails stop on anything but a lost connection; SQLite heals instead
        # (tests/server/test_storage_faults.py).
        with pytest.raises(ServerError, match="storage failed"):
            await storage.list_documents(ROOM)


async def test_flushed_changes_survive_a_restart(
    backend: Backend, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(storage=backend.make(compact_rows=500), secret=secret) as server,
        raw_client(server.url) as client,
    ):
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        doc = await client.open("keep.doc")
        for i in range(30):
            doc.doc.root.append_child("p", {"text": f"p{i}"})
        await client.request("sync.flush", channel=doc.channel)
        expected = doc.doc.to_json()
        epoch = doc.epoch
    async with (
        RoomServer(storage=backend.make(compact_rows=500), secret=secret) as server,
        raw_client(server.url) as client,
    ):
        reopened = await client.open("keep.doc", create=False)
        assert reopened.doc.to_json() == expected
        assert reopened.epoch == epoch


# -- a real `mesh-tools serve` process ---------------------------------------------------------


@pytest.fixture
def serve_process(tmp_path: Path, secret: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "MESH_TOOLS_SECRET": secret}
    command = [sys.executable, "-m", "mesh_tools", "serve", "--port", "0", "--data-dir", str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url.startswith("ws://127.0.0.1:"), process.stderr.read() if process.stderr else url
    yield process, url
    if process.poll() is None:
        process.kill()
    process.wait()


async def _write_and_flush(raw_client: RawConnector, url: str, count: int) -> dict[str, object]:
    async with raw_client(url) as client:
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        doc = await client.open("crash.doc")
        for i in range(count):
            doc.doc.root.append_child("p", {"text": f"p{i}", "size": i})
        await client.request("sync.flush", channel=doc.channel)
        return doc.doc.to_json()


async def test_acknowledged_changes_survive_sigkill(
    tmp_path: Path, serve_process: tuple[subprocess.Popen[str], str], secret: str, raw_client: RawConnector
) -> None:
    process, url = serve_process
    expected = await _write_and_flush(raw_client, url, 50)
    process.send_signal(signal.SIGKILL)
    process.wait()
    async with (
        RoomServer(data_dir=tmp_path, secret=secret) as server,
        raw_client(server.url) as client,
    ):
        assert (await client.open("crash.doc", create=False)).doc.to_json() == expected


async def test_sigterm_closes_with_1012_and_snapshots(
    tmp_path: Path, serve_process: tuple[subprocess.Popen[str], str], secret: str, raw_client: RawConnector
) -> None:
    process, url = serve_process
    expected = await _write_and_flush(raw_client, url, 5)
    async with raw_client(url) as client:
        await client.open("crash.doc")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await client.connection.wait_closed()
        assert client.connection.close_code == 1012
    assert await asyncio.to_thread(process.wait, 10) == 0
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        assert db.execute("SELECT count(*) FROM updates").fetchone()[0] == 0
    async with (
        RoomServer(data_dir=tmp_path, secret=secret) as server,
        raw_client(server.url) as client,
    ):
        assert (await client.open("crash.doc", create=False)).doc.to_json() == expected


class _CountingStorage(SQLiteStorage):
    """SQLite storage that counts loads, to see single-flight loading from the outside."""

    loads = 0

    async def load_document(self, room: str, path: str) -> StoredDocument | None:
        self.loads += 1
        return await super().load_document(room, path)


async def test_concurrent_opens_share_one_load(tmp_path: Path, secret: str, raw_client: RawConnector) -> None:
    storage = _CountingStorage(tmp_path / "db.sqlite3")
    async with RoomServer(storage=storage, secret=secret) as server:
        async with raw_client(server.url) as admin:
            await admin.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
            await admin.request("sync.create", path="hot.doc")
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(raw_client(server.url)) for _ in range(8)]
            opened = await asyncio.gather(*(client.open("hot.doc", create=False) for client in clients))
            assert storage.loads == 1
            assert len({doc.epoch for doc in opened}) == 1
            assert server.resident_documents == 1
            for client, doc in zip(clients, opened, strict=True):
                await client.request("sync.close", channel=doc.channel)
            assert server.resident_documents == 0


async def test_a_failed_write_closes_the_documents_channels(
    backend: Backend, secret: str, raw_client: RawConnector
) -> None:
    async with (
        RoomServer(storage=backend.make(compact_rows=500), secret=secret) as server,
        raw_client(server.url) as client,
    ):
        await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
        doc = await client.open("doomed.doc")
        await asyncio.to_thread(backend.drop_log)
        doc.doc.root.append_child("p", {"text": "cannot be stored"})
        push = await client.next_push()
        assert push.type == "sync.closed" and push.fields["channel"] == doc.channel
        assert server.resident_documents == 0
        # The driver's text ("no such table") stays in the server's log.
        assert "table" not in push.fields["error"]["message"]
        if backend.name == "postgresql":
            # PostgreSQL fails stop on anything but a lost connection.
            assert push.fields["error"]["code"] == "internal_error"
            with pytest.raises(ServerError, match="storage failed"):
                await client.request("sync.list")
            return
        # SQLite names the cause by its code and is not fail-stop (tests/server/test_storage_faults.py):
        # the reopened database serves requests again.
        assert push.fields["error"]["code"] == "storage_unavailable"
        assert "storage failed" in push.fields["error"]["message"]
        assert await client.request("sync.list") == {"paths": ["doomed.doc"]}


async def test_an_unloaded_document_is_freed_without_the_cycle_collector(tmp_path: Path) -> None:
    """Unloading frees a document by reference counting alone, so its memory can go back at once."""
    source = MeshDocument(schema=DOC_SCHEMA)
    for i in range(50):
        source.root.append_child("p", {"text": f"p{i}", "size": i})
    store = SQLiteStorage(tmp_path / "u.sqlite3")
    await store.open()
    trimmer = MemoryTrimmer(interval=0.01)
    room = Room(ROOM, store, trimmer=trimmer)
    try:
        await store.create_document(
            ROOM, "u.doc", schema=DOC_SCHEMA.to_json(), epoch="e", update=source.get_update()
        )
        live = await room.acquire("u.doc")
        assert len(live.doc.root.get_children()) == 50
        document, ydoc = weakref.ref(live.doc), weakref.ref(live.doc.ydoc)
        gc.collect()
        gc.disable()
        try:
            live.release()
            del live
            await asyncio.sleep(0)  # the loop drops the finished load's future
            assert room.documents == {}
            assert document() is None and ydoc() is None
        finally:
            gc.enable()
        await trimmer.settled()
    finally:
        await store.close()
        source.close()


async def test_appends_beyond_the_backlog_bound_make_drain_wait_until_stored(tmp_path: Path) -> None:
    store = SQLiteStorage(
        tmp_path / "b.sqlite3", max_backlog_bytes=1000, compact_rows=10_000, compact_bytes=10**9
    )
    await store.open()
    try:
        updates, expected = _text_updates(2000)
        await store.create_document(ROOM, "b.doc", schema={}, epoch="e", update=updates[0])
        # Many batches' worth of appends, with a load queued in the middle: it sees exactly what came first.
        futures = [store.append_update(ROOM, "b.doc", u) for u in updates[1:1000]]
        loaded = asyncio.ensure_future(store.load_document(ROOM, "b.doc"))
        await asyncio.sleep(0)  # the load queues itself when its task first runs
        futures += [store.append_update(ROOM, "b.doc", u) for u in updates[1000:]]
        assert store.backlog_bytes > 1000
        drain = asyncio.ensure_future(store.drain())
        await asyncio.sleep(0)
        assert not drain.done(), "drain returned while the backlog was over its bound"
        await asyncio.wait_for(drain, 30)
        assert store.backlog_bytes <= 1000
        await asyncio.gather(*futures)
        middle = await loaded
        assert middle is not None and middle.updates == updates[:1000]
        stored = await store.load_document(ROOM, "b.doc")
        assert stored is not None and _replay(stored.updates) == expected
        assert stored.updates == updates
    finally:
        await store.close()


async def test_appends_stored_while_folds_are_computed_are_all_kept(tmp_path: Path) -> None:
    """Folds read a few rows and are computed beside the writer while appends go on: every fold deletes
    exactly the rows it read, so whatever was appended meanwhile is still there, and is folded next."""
    updates, expected = _text_updates(1200)
    backend = _sqlite_backend(tmp_path / "f.sqlite3")
    store = backend.make(compact_rows=7, compact_bytes=1, compact_ratio=0.0)
    await store.open()
    try:
        await store.create_document(ROOM, "f.doc", schema={}, epoch="e", update=updates[0])
        for start in range(1, len(updates), 37):
            burst = updates[start : start + 37]
            await asyncio.gather(*(store.append_update(ROOM, "f.doc", u) for u in burst))
            stored = await store.load_document(ROOM, "f.doc")
            assert stored is not None
            assert _replay(stored.updates) == _replay(updates[: start + len(burst)])
        # The log keeps being folded after the last append, a few rows at a time, down to what is due.
        assert await _log_shrinks_to(backend, 7) <= 7
    finally:
        await store.close()
    stored = await _load_after_reopening(backend, "f.doc")
    assert stored is not None and len(stored.updates) == 1 and _replay(stored.updates) == expected
