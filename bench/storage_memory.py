"""Storage size and memory per document: ours beside pycrdt-store / pycrdt-websocket, in one run.

    python bench/storage_memory.py [--storage-elements 5000] [--updates 8000] [--elements 1000]
                                   [--documents 200] [--cycles 2]

1. Storage while running: a document of ``--storage-elements`` children gets ``--updates`` small edits
   (three in four rewrite an attribute, the rest append), stored as a server stores them (bursts of
   200 appends). Every 500 updates the database + WAL files are measured against the live state (the
   size of the live document's own encoding), and a thread samples them every millisecond (against the
   live state before the current burst), so the worst instant is seen, not only the moments the
   measurements fall on; then after the storage closed. Reference: pycrdt-store's
   ``SQLiteYStore`` (pycrdt-websocket's store, defaults) given the same updates (for at most
   ``--reference-seconds``: it commits each update on its own, so it stores ~30 per second here).
2. Snapshot of that overwrite-heavy log: ``compact_updates`` (ours) and ``merge_updates`` (what the
   snapshot was before), beside the live state.
3. Memory per loaded document: in a fresh process each, ``--documents`` documents of ``--elements``
   children loaded as the server loads them (``Room.acquire``: storage load, schema check, index) or as
   pycrdt-websocket does (a started ``YRoom`` with the update applied), RSS before and after; then
   ``--cycles`` unload/load cycles with RSS after each unload (ours hands memory back on unload).

Targets (issue 16): database <= 3x the live state while running; memory per document <= 1.2x
pycrdt-websocket, and RSS after unload near the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _summary import Row, Topic, add_summary_argument, at_most, context, record
from pycrdt import Doc, merge_updates
from rich.console import Console
from rich.table import Table
from room_load import SCHEMA  # the same two-element-type schema

from mesh_tools.document import MeshDocument
from mesh_tools.server import SQLiteStorage
from mesh_tools.server._memory import MemoryTrimmer
from mesh_tools.server._room import Room
from mesh_tools.server._snapshots import compact_updates

ROOM = "bench"


def first_state(elements: int) -> MeshDocument:
    doc = MeshDocument(schema=SCHEMA)
    for i in range(elements):
        doc.root.append_child("p", {"text": f"item {i}", "n": i})
    return doc


def edits(elements: int, count: int) -> tuple[bytes, list[bytes], list[int]]:
    """The first state, ``count`` updates (three in four rewrite an attribute, the rest append), and the
    live state's size after each update (measured every 500)."""
    doc = first_state(elements)
    first = doc.get_update()
    rng = random.Random(7)
    updates: list[bytes] = []
    live: list[int] = []
    doc.on_update(lambda update, origin: updates.append(update))
    children = doc.root.get_children()
    for i in range(count):
        if i % 4 == 3:
            children.append(doc.root.append_child("p", {"text": f"new {i}", "n": i}))
        else:
            rng.choice(children).set_attribute("n", i)
        if i % 500 == 499 or i == count - 1:
            live += [len(doc.get_update())] * (len(updates) - len(live))
    return first, updates, live


def files_size(database: Path) -> int:
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())


class Sampler:
    """Database + WAL against ``live`` (set by the writer as it goes) every millisecond, on a thread."""

    def __init__(self, database: Path, live: int) -> None:
        self.database = database
        self.live = live
        self.worst = 0.0
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running = False
        self._thread.join()

    def _run(self) -> None:
        while self._running:
            try:
                self.worst = max(self.worst, files_size(self.database) / self.live)
            except FileNotFoundError:  # a file went between listing and stat
                continue
            time.sleep(0.001)


async def storage_ours(first: bytes, updates: list[bytes], live: list[int], tmp: Path) -> dict[str, float]:
    database = tmp / "ours.sqlite3"
    storage = SQLiteStorage(database)
    await storage.open()
    await storage.create_document(ROOM, "d.doc", schema=SCHEMA.to_json(), epoch="e", update=first)
    worst = 0.0
    with Sampler(database, len(first)) as sampler:
        for start in range(0, len(updates), 200):
            sampler.live = live[max(start - 1, 0)]
            await asyncio.gather(
                *(storage.append_update(ROOM, "d.doc", u) for u in updates[start : start + 200])
            )
            if (start + 200) % 500 < 200:
                worst = max(worst, files_size(database) / live[min(start + 199, len(updates) - 1)])
        running = files_size(database) / live[-1]
    await storage.close()
    closed = files_size(database) / live[-1]
    return {
        "worst": max(worst, running),
        "sampled": sampler.worst,
        "end": running,
        "closed": closed,
        "stored": len(updates),
    }


async def storage_reference(
    first: bytes, updates: list[bytes], live: list[int], tmp: Path, seconds: float
) -> dict[str, float]:
    """The same updates into pycrdt-store's SQLiteYStore (one transaction each), for at most ``seconds``."""
    from pycrdt.store import SQLiteYStore

    database = tmp / "reference.sqlite3"

    class Store(SQLiteYStore):
        db_path = str(database)

    store = Store("d.doc")
    task = asyncio.create_task(store.start())
    await store.started.wait()
    await store.write(first)
    worst = 0.0
    deadline = time.perf_counter() + seconds
    stored = 0
    with Sampler(database, len(first)) as sampler:
        for stored, update in enumerate(updates, 1):
            sampler.live = live[max(stored - 2, 0)]
            await store.write(update)
            if stored % 500 == 0:
                worst = max(worst, files_size(database) / live[stored - 1])
            if time.perf_counter() > deadline:
                break
        running = files_size(database) / live[stored - 1]
    await store.stop()
    await task
    closed = files_size(database) / live[stored - 1]
    return {
        "worst": max(worst, running),
        "sampled": sampler.worst,
        "end": running,
        "closed": closed,
        "stored": stored,
    }


# -- memory, each side in a process of its own ------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss() -> int:
    gc.collect()
    return rss()


async def memory_ours(update: bytes, documents: int, cycles: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "m.sqlite3")
        await storage.open()
        schema = SCHEMA.to_json()
        for i in range(documents):
            await storage.create_document(ROOM, f"d{i}.doc", schema=schema, epoch="e", update=update)
        trimmer = MemoryTrimmer()
        room = Room(ROOM, storage, trimmer=trimmer)
        base = settled_rss()
        loaded: list[int] = []
        unloaded: list[int] = []
        for _ in range(cycles):
            lives = [await room.acquire(f"d{i}.doc") for i in range(documents)]
            loaded.append(settled_rss())
            for live in lives:
                live.release()
            del lives, live
            await trimmer.settled()  # the server hands freed memory back this long after unloads
            unloaded.append(settled_rss())
        await storage.close()
    return {"base": base, "loaded": loaded, "unloaded": unloaded}


async def memory_reference(update: bytes, documents: int, cycles: int) -> dict[str, Any]:
    from pycrdt.websocket import YRoom

    base = settled_rss()
    loaded: list[int] = []
    unloaded: list[int] = []
    for _ in range(cycles):
        rooms = []
        for _ in range(documents):
            doc: Doc[Any] = Doc()
            doc.apply_update(update)
            room = YRoom(ydoc=doc)
            task = asyncio.create_task(room.start())
            await room.started.wait()
            rooms.append((room, task))
        loaded.append(settled_rss())
        for room, task in rooms:
            await room.stop()
            await task
        del rooms, room, task, doc
        unloaded.append(settled_rss())
    return {"base": base, "loaded": loaded, "unloaded": unloaded}


def measure_in_process(side: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--memory-side", side]
    command += ["--elements", str(args.elements), "--documents", str(args.documents)]
    command += ["--cycles", str(args.cycles)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def uptime() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storage-elements", type=int, default=5000)
    parser.add_argument("--elements", type=int, default=1000, help="elements per document loaded")
    parser.add_argument("--updates", type=int, default=8000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument(
        "--reference-seconds",
        type=float,
        default=30.0,
        help="most time the reference store gets (it is slow)",
    )
    parser.add_argument("--memory-side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    add_summary_argument(parser)
    args = parser.parse_args()
    update = first_state(args.elements).get_update()
    if args.memory_side:
        run = memory_ours if args.memory_side == "ours" else memory_reference
        print(json.dumps(asyncio.run(run(update, args.documents, args.cycles))))
        return
    console = Console()

    first, updates, live = edits(args.storage_elements, args.updates)
    table = Table(
        title=f"Storage vs live state: {len(updates):,} edits of a {args.storage_elements:,}-element document"
    )
    columns = ("storage", "database+WAL while running: worst", "sampled every ms: worst", "at the end")
    for column in (*columns, "after close"):
        table.add_column(column, justify="right")
    stored: list[dict[str, float]] = []  # ours, then the reference
    with tempfile.TemporaryDirectory() as tmp:
        for label, run_storage in (
            ("SQLiteStorage (ours)", storage_ours(first, updates, live, Path(tmp))),
            (
                "pycrdt-store SQLiteYStore (reference)",
                storage_reference(first, updates, live, Path(tmp), args.reference_seconds),
            ),
        ):
            started = time.perf_counter()
            ratios = asyncio.run(run_storage)
            stored.append(ratios)
            elapsed = time.perf_counter() - started
            table.add_row(
                f"{label}: {ratios['stored']:,.0f} edits in {elapsed:.1f} s",
                f"{ratios['worst']:.1f}x",
                f"{ratios['sampled']:.1f}x",
                f"{ratios['end']:.1f}x",
                f"{ratios['closed']:.1f}x",
            )
    console.print(table)
    console.print(f"live state {live[-1]:,} bytes; {uptime()}")

    merged = merge_updates(first, *updates)
    compacted = compact_updates(first, *updates)
    table = Table(title="Snapshot of the overwrite-heavy log, vs the live state")
    for column in ("snapshot", "bytes", "x live state"):
        table.add_column(column, justify="right")
    for label, size in (
        ("compact_updates (ours)", len(compacted)),
        ("merge_updates (before)", len(merged)),
        ("live state (reference)", live[-1]),
    ):
        table.add_row(label, f"{size:,}", f"{size / live[-1]:.2f}x")
    console.print(table)
    console.print(uptime())

    table = Table(
        title=f"Memory: {args.documents} loaded documents of {args.elements:,} elements, "
        f"{args.cycles} load/unload cycles"
    )
    for column in ("side", "per document KiB", "RSS loaded MiB", "RSS above baseline after each unload MiB"):
        table.add_column(column, justify="right")
    per_document: dict[str, float] = {}
    after_unload: dict[str, float] = {}
    for side, label in (("ours", "Room.acquire (ours)"), ("reference", "pycrdt-websocket YRoom (reference)")):
        figures = measure_in_process(side, args)
        base = figures["base"]
        per_document[side] = (figures["loaded"][0] - base) / args.documents
        after_unload[side] = (figures["unloaded"][-1] - base) / 2**20
        table.add_row(
            label,
            f"{per_document[side] / 1024:,.0f}",
            " / ".join(f"{(r - base) / 2**20:,.1f}" for r in figures["loaded"]),
            " / ".join(f"{(r - base) / 2**20:,.1f}" for r in figures["unloaded"]),
        )
    console.print(table)
    console.print(
        f"ours / reference per document: {per_document['ours'] / per_document['reference']:.2f}x; {uptime()}"
    )
    ours, reference = stored
    store = "pycrdt-store SQLiteYStore"
    record(
        args.summary,
        (
            Row(
                Topic.STORAGE_SIZE,
                f"database + WAL while running, worst, {len(updates):,} edits",
                ours["worst"],
                reference["worst"],
                "× live state",
                store,
                "≤ 3x live state",
                ours["worst"] <= 3,
            ),
            context(
                Topic.STORAGE_SIZE,
                "database after close",
                ours["closed"],
                reference["closed"],
                unit="× live state",
                reference_label=store,
            ),
            at_most(
                Topic.STORAGE_SIZE,
                "snapshot (compact_updates) of that log",
                len(compacted),
                live[-1],
                factor=3,
                unit="bytes",
                reference_label="the live state",
            ),
            at_most(
                Topic.MEMORY,
                f"per loaded document of {args.elements:,} elements",
                per_document["ours"] / 1024,
                per_document["reference"] / 1024,
                factor=1.2,
                unit="KiB",
                reference_label="pycrdt-websocket",
            ),
            context(
                Topic.MEMORY,
                f"RSS above baseline after {args.cycles} load/unload cycles",
                after_unload["ours"],
                after_unload["reference"],
                unit="MiB",
                reference_label="pycrdt-websocket",
            ),
        ),
    )


if __name__ == "__main__":
    main()
