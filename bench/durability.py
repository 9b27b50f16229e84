"""Durable appends per second while the event loop is busy, beside the same storage with an idle loop.

    python bench/durability.py [--updates 20000] [--seconds 10]

The room server applies updates on its event loop and stores them on SQLiteStorage's writer thread; when
the loop is busy (fan-out, schema checks) the writer must win the GIL back after each SQLite call. This
offers ``--updates`` small appends, 200 at a time, while a task keeps the loop busy (``--slice-ms`` of
Python work per loop turn, as a loaded server does), and reports stored/s, the p99 time from append to
durable, and how long a final ``flush()`` waited; the reference is the same run with an idle loop.
Target: stored/s with a busy loop within 2x of the idle one, and the flush bounded.

Offered/s is how fast the loop handed the appends over: a busy loop offers 200 per turn of at least
``--slice-ms``, so its stored/s cannot pass its offered/s; storage that keeps up stores as fast as it is
offered and its final flush is short.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _summary import Row, Topic, add_summary_argument, context, record  # bench/ is on the path
from pycrdt import Doc, Map
from rich.console import Console
from rich.table import Table

from mesh_tools.server import SQLiteStorage


def small_updates(count: int) -> list[bytes]:
    doc: Doc = Doc()
    values = doc.get("m", type=Map)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        values[f"k{i % 50}"] = i
    return updates


async def busy(stop: asyncio.Event, slice_seconds: float) -> None:
    while not stop.is_set():
        deadline = time.perf_counter() + slice_seconds
        while time.perf_counter() < deadline:
            pass
        await asyncio.sleep(0)


async def run(
    updates: list[bytes], busy_slice: float, seconds: float
) -> tuple[float, float, float, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "bench.sqlite3")
        await storage.open()
        await storage.create_document("r", "d", schema={}, epoch="e", update=updates[0])
        stop = asyncio.Event()
        spinner = asyncio.create_task(busy(stop, busy_slice)) if busy_slice else None
        latencies: list[float] = []
        stored = 0

        def done(started: float) -> None:
            nonlocal stored
            stored += 1
            latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        offered = 0
        for offset in range(0, len(updates) - 1, 200):
            if time.perf_counter() - start > seconds:
                break
            now = time.perf_counter()
            for update in updates[1 + offset : 201 + offset]:
                storage.append_update("r", "d", update).add_done_callback(lambda _, t=now: done(t))
                offered += 1
            await asyncio.sleep(0)
        offering = time.perf_counter() - start
        flush_start = time.perf_counter()
        await storage.flush()
        flush = time.perf_counter() - flush_start
        elapsed = time.perf_counter() - start
        stop.set()
        if spinner is not None:
            await spinner
        await storage.close()
        p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
        return stored / elapsed, p99, flush, stored, offered / offering


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--slice-ms", type=float, default=10.0, help="Python work per loop turn when busy")
    add_summary_argument(parser)
    args = parser.parse_args()
    updates = small_updates(args.updates)
    table = Table(title="SQLiteStorage durable appends: busy event loop (ours) vs idle loop (reference)")
    for column in ("loop", "offered/s", "stored", "stored/s", "append->durable p99 ms", "final flush ms"):
        table.add_column(column, justify="right")
    runs: list[tuple[float, float, float, float]] = []  # busy, then idle
    for label, busy_slice in (
        (f"busy {args.slice_ms:g} ms slices (ours)", args.slice_ms / 1e3),
        ("idle (reference)", 0.0),
    ):
        rate, p99, flush, stored, offered = asyncio.run(run(updates, busy_slice, args.seconds))
        runs.append((rate, p99, flush, offered))
        table.add_row(
            label, f"{offered:,.0f}", f"{stored:,}", f"{rate:,.0f}", f"{p99 * 1e3:.1f}", f"{flush * 1e3:.1f}"
        )
    Console().print(table)
    (rate, p99, flush, offered), (idle_rate, idle_p99, idle_flush, idle_offered) = runs
    idle, busy = "idle loop", f"loop busy in {args.slice_ms:g} ms slices"
    record(
        args.summary,
        (
            Row(
                Topic.DURABLE_BUSY_LOOP,
                f"stored/s, {busy}",
                rate,
                idle_rate,
                "/s",
                idle,
                f"≥ 0.5x {idle}",
                rate >= 0.5 * idle_rate,
            ),
            context(
                Topic.DURABLE_BUSY_LOOP,
                f"appends offered/s, {busy}",
                offered,
                idle_offered,
                unit="/s",
                reference_label=idle,
            ),
            context(
                Topic.DURABLE_BUSY_LOOP,
                "append→durable p99",
                p99 * 1e3,
                idle_p99 * 1e3,
                unit="ms",
                reference_label=idle,
            ),
            context(
                Topic.DURABLE_BUSY_LOOP,
                "final flush",
                flush * 1e3,
                idle_flush * 1e3,
                unit="ms",
                reference_label=idle,
            ),
        ),
    )


if __name__ == "__main__":
    main()
