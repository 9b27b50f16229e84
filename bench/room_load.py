"""Opening a document the server must load, from a long log and from a snapshot, beside raw pycrdt.

    python bench/room_load.py [--updates 10000] [--repeat 3]

Stores a document as one small update per edit (``--updates`` of them, never compacted), then times a
RoomClient's ``sync.open`` until it is synchronized, with the document not loaded on the server (load
from the log, schema check, transfer, client apply). Then the storage is closed (which folds the log
into its snapshot) and the same is timed again from the snapshot. The reference is raw pycrdt replaying
the same stored updates into a fresh ``Doc`` in the same process. Each is timed ``--repeat`` times
(the server unloads the document between opens) and the best of each is shown: on a shared machine
one run of either swings by 2x. Target: ours <= 2x the reference.

An open applies the whole document twice (the server's load, then the client's first sync) and indexes
it twice, where the reference applies it once; so the table also shows the server's load alone (the
room loading the document for a hold, no client sync), beside the same reference. The server's load is
what issue 16's rows name ("room load", "cold load (server)"), so ``--summary`` records it against the
target, and the whole open beside it as context.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _summary import Topic, add_summary_argument, at_most, context, record  # bench/ is on the path
from rich.console import Console
from rich.table import Table

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.document import MeshDocument
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer, SQLiteStorage
from mesh_tools.tokens import ApiScope, ParticipantToken, SyncScope

SECRET = "bench-secret-0123456789abcdef0123456789"
ROOM = "bench"
PATH = "log.doc"
SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(
            tag_name="p",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="n", type="number")],
        ),
    ],
)


REFERENCE = "raw pycrdt replay"


def edits(count: int) -> tuple[bytes, list[bytes]]:
    """The document's first state and ``count`` updates: appends, with every fourth edit a rewrite."""
    doc = MeshDocument(schema=SCHEMA)
    first = doc.get_update()
    updates: list[bytes] = []
    doc.on_update(lambda update, origin: updates.append(update))
    children = []
    for i in range(count):
        if i % 4 == 3:
            children[i // 4].set_attribute("n", i)
        else:
            children.append(doc.root.append_child("p", {"text": f"item {i}", "n": i}))
    return first, updates


def raw_replay(updates: list[bytes], repeat: int) -> float:
    from pycrdt import Doc

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        doc: Doc = Doc()
        for update in updates:
            doc.apply_update(update)
        best = min(best, time.perf_counter() - start)
    return best


async def open_time(server: RoomServer, repeat: int) -> tuple[float, float]:
    """The best of ``repeat`` opens until synchronized, and of ``repeat`` server loads alone."""
    scope = ApiScope(sync=SyncScope())
    token = ParticipantToken.for_room(name="bench", room=ROOM, api=scope).to_jwt(token=SECRET)
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    best_open = best_load = float("inf")
    async with RoomClient(protocol=WebSocketClientProtocol(url=url, token=token)) as client:
        for _ in range(repeat):
            start = time.perf_counter()
            document = await client.sync.open(PATH)
            await document.synchronized
            best_open = min(best_open, time.perf_counter() - start)
            await client.sync.close(PATH)
        room = server.rooms[ROOM]  # kept while the client is connected
        for _ in range(repeat):
            start = time.perf_counter()
            live = await room.acquire(PATH)
            best_load = min(best_load, time.perf_counter() - start)
            live.release()  # unloads it: nothing else holds it
    return best_open, best_load


async def measure(
    count: int, repeat: int
) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(the opens, recorded; the server's loads alone, shown), each (what, ours, raw replay)."""
    first, updates = edits(count)
    rows = []
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "rooms.sqlite3"
        storage = SQLiteStorage(database, compact_rows=10**9, compact_bytes=10**12)
        async with RoomServer(storage=storage, secret=SECRET) as server:
            await storage.create_document(ROOM, PATH, schema=SCHEMA.to_json(), epoch="e", update=first)
            for update in updates:
                storage.append_update(ROOM, PATH, update)
            await storage.flush()
            stored = await storage.load_document(ROOM, PATH)
            assert stored is not None and len(stored.updates) == count + 1
            ours, load = await open_time(server, repeat)
            raw = raw_replay(stored.updates, repeat)
            rows.append((f"open from a log of {count:,} updates", ours, raw))
            loads.append((f"server load alone, log of {count:,}", load, raw))
        # Closing the storage folded the log into the snapshot.
        storage = SQLiteStorage(database)
        async with RoomServer(storage=storage, secret=SECRET) as server:
            stored = await storage.load_document(ROOM, PATH)
            assert stored is not None and len(stored.updates) == 1
            ours, load = await open_time(server, repeat)
            raw = raw_replay(stored.updates, repeat)
            rows.append(("open from the snapshot", ours, raw))
            loads.append(("server load alone, snapshot", load, raw))
    return rows, loads


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="opens (and raw replays) per case; best shown")
    add_summary_argument(parser)
    args = parser.parse_args()
    table = Table(title="cold open of a stored document: ours (server load + sync) vs raw pycrdt replay")
    for column in ("what", "ours ms", "raw replay ms", "ratio"):
        table.add_column(column, justify="right")
    rows, loads = asyncio.run(measure(args.updates, args.repeat))
    for what, ours, raw in [*rows, *loads]:
        table.add_row(what, f"{ours * 1e3:.0f}", f"{raw * 1e3:.0f}", f"{ours / raw:.1f}x")
    Console().print(table)
    topics = (Topic.LOG_LOAD, Topic.COLD_LOAD)  # measure's rows: from the log, then from the snapshot
    summary = []
    for topic, (what, ours, raw), (load_what, load, load_raw) in zip(topics, rows, loads, strict=True):
        summary.append(
            at_most(
                topic, load_what, load * 1e3, load_raw * 1e3, factor=2, unit="ms", reference_label=REFERENCE
            )
        )
        summary.append(context(topic, what, ours * 1e3, raw * 1e3, unit="ms", reference_label=REFERENCE))
    record(args.summary, summary)


if __name__ == "__main__":
    main()
