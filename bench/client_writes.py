"""A RoomClient's writes reaching durable storage: a burst of local edits then flush, and writing flat out.

    python bench/client_writes.py [--elements 10000] [--edits 600] [--repeat 3] [--seconds 5]

Through ``mesh-tools serve`` (a child process, SQLite), one RoomClient in this process:

1. Flush after a burst of local edits: the client holds a flat document of ``--elements`` children and
   makes ``--edits`` local edits in one go, as an agent's tool calls do (deletes, inserts at random
   places and attribute changes, a third each), then ``flush()``: the time until the server has
   applied, checked and durably stored them all. The best of ``--repeat`` bursts counts (the first,
   right after opening, is shown too). Reference: raw pycrdt applying the same edits, as one update,
   to a replica of the same document (what the server's apply costs at the least). Target: flush
   <= 3x the reference (the round trip and the durable commit are in ours only).
2. One client writing flat out: it appends as fast as it can for ``--seconds`` (in batches of 50,
   yielding to its connection in between), while a plain pycrdt reader counts what the server relays.
   applied/s = the edits over the time from the first edit until the reader held them all (the server
   relays an update once it applied it); stored/s = the edits over the time until ``flush()``, called
   right after the last edit, confirmed them durable. Shows that final flush's wait and the server's
   peak RSS. Target: stored/s >= 0.95x applied/s (storage keeps up, the flush is short).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import astuple, dataclass

from _serve import ROOM, ours_server, peak_rss_mib, room_client  # bench/ is on the path
from _summary import Row, Topic, add_summary_argument, at_most, context, record
from create_describe import document_json
from pycrdt import Doc, merge_updates
from rich.console import Console
from rich.table import Table
from room_load import SCHEMA
from sync_latency import Client, children

from mesh_tools.client import SyncedDocument

assert ROOM == "bench"  # the pycrdt reader (sync_latency.Client) joins this room


def burst(doc: SyncedDocument, edits: int, rng: random.Random) -> None:
    """``edits`` local edits without yielding: deletes, inserts and attribute changes in turn."""
    children_now = doc.root.get_children()
    for i in range(edits):
        kind = i % 3
        if kind == 0:
            children_now.pop(rng.randrange(len(children_now))).delete()
        elif kind == 1:
            position = rng.randrange(len(children_now) + 1)
            children_now.insert(position, doc.root.insert_child(position, "p", {"text": f"new {i}", "n": i}))
        else:
            rng.choice(children_now).set_attribute("n", -i)


def raw_apply(before: bytes, edits: list[bytes]) -> float:
    """Seconds raw pycrdt takes to apply ``edits`` merged into one update, to a replica at ``before``."""
    doc: Doc = Doc()
    doc.apply_update(before)
    update = merge_updates(*edits)
    start = time.perf_counter()
    doc.apply_update(update)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Burst:
    """One burst, in seconds: the edits themselves, the flush, raw pycrdt's apply of the same edits."""

    edit: float
    flush: float
    raw: float


async def flush_after_burst(url: str, elements: int, edits: int, repeat: int) -> list[Burst]:
    path = "burst.doc"
    rng = random.Random(16)
    bursts = []
    async with room_client(url, request_timeout=600) as client:
        await client.sync.create(path, json=document_json(elements), schema=SCHEMA)
        doc = await client.sync.open(path)
        await doc.synchronized
        for _ in range(repeat):
            await client.sync.flush(path)
            before = doc.get_update()
            local: list[bytes] = []
            stop = doc.on_update(
                lambda update, origin, box=local: box.append(update) if origin is None else None
            )
            start = time.perf_counter()
            burst(doc, edits, rng)
            edited = time.perf_counter()
            await client.sync.flush(path)
            flushed = time.perf_counter()
            stop()
            bursts.append(Burst(edited - start, flushed - edited, raw_apply(before, local)))
        await client.sync.close(path)
    return bursts


@dataclass(frozen=True)
class FlatOut:
    """One client's writing flat out: edits written, and seconds from the first edit until the reader
    held them all (applied) and until flush confirmed them durable (stored)."""

    written: int
    seconds: float
    applied: float
    stored: float
    flush: float
    rss_before: float
    rss_peak: float

    @property
    def applied_rate(self) -> float:
        return self.written / self.applied

    @property
    def stored_rate(self) -> float:
        return self.written / self.stored


async def relayed(reader: Client, count: int, deadline: float) -> None:
    """Until the reader holds ``count`` children, or ``deadline`` (perf_counter) passed."""
    while children(reader.ydoc) < count and time.perf_counter() < deadline:
        reader.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.changed.wait(), 1.0)


async def write_flat_out(url: str, server_pid: int, seconds: float) -> FlatOut:
    path = "bench.doc"  # sync_latency.Client opens this path (and puts the schema "doc")
    async with Client.connect("ours", url, Doc()) as reader, room_client(url, request_timeout=600) as client:
        doc = await client.sync.open(path)
        await doc.synchronized
        rss_before = peak_rss_mib(server_pid)
        written = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                doc.root.append_child("p", {"n": written})
                written += 1
            await asyncio.sleep(0)
        window = time.perf_counter() - start

        async def until(done: Awaitable[None]) -> float:
            await done
            return time.perf_counter() - start

        applied, stored = await asyncio.gather(
            until(relayed(reader, written, start + window + 600)), until(client.sync.flush(path))
        )
        if children(reader.ydoc) < written:
            raise RuntimeError(f"the reader got {children(reader.ydoc):,} of {written:,} edits in 10 minutes")
        rss_peak = peak_rss_mib(server_pid)
        await client.sync.close(path)
    return FlatOut(written, window, applied, stored, stored - window, rss_before, rss_peak)


async def measure(url: str, pid: int, args: argparse.Namespace) -> tuple[list[Burst], FlatOut]:
    burst_figures = await flush_after_burst(url, args.elements, args.edits, args.repeat)
    return burst_figures, await write_flat_out(url, pid, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--elements", type=int, default=10_000, help="children of the burst's document")
    parser.add_argument("--edits", type=int, default=600, help="local edits per burst")
    parser.add_argument("--repeat", type=int, default=3, help="bursts (each then flushed); best counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the client writes flat out")
    add_summary_argument(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, ours_server(data_dir) as (url, process):
        bursts, flat = asyncio.run(measure(url, process.pid, args))
    best = Burst(*(min(figures) for figures in zip(*(astuple(b) for b in bursts), strict=True)))
    console = Console()
    table = Table(title=f"{args.edits} local edits to a flat document of {args.elements:,}, then flush (ms)")
    for column in ("burst", "edits (local)", "flush", "raw pycrdt apply of the same edits"):
        table.add_column(column, justify="right")
    for label, figures in [*((f"{i}", b) for i, b in enumerate(bursts, start=1)), ("best", best)]:
        table.add_row(label, *(f"{seconds * 1e3:,.1f}" for seconds in astuple(figures)))
    console.print(table)
    table = Table(title=f"one client appending flat out for {args.seconds:g} s")
    for column in ("written", "applied/s", "stored/s", "final flush ms", "server RSS MiB before → peak"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{flat.written:,}",
        f"{flat.applied_rate:,.0f}",
        f"{flat.stored_rate:,.0f}",
        f"{flat.flush * 1e3:,.0f}",
        f"{flat.rss_before:,.0f} → {flat.rss_peak:,.0f}",
    )
    console.print(table)
    raw = "raw pycrdt apply of the same edits"
    applied = "applied/s, same run"
    record(
        args.summary,
        (
            at_most(
                Topic.FLUSH_AFTER_LOCAL_EDITS,
                f"flush after {args.edits} local edits to {args.elements:,} elements",
                best.flush * 1e3,
                best.raw * 1e3,
                factor=3,
                unit="ms",
                reference_label=raw,
            ),
            context(
                Topic.FLUSH_AFTER_LOCAL_EDITS,
                "the first burst's flush, right after opening",
                bursts[0].flush * 1e3,
                bursts[0].raw * 1e3,
                unit="ms",
                reference_label=raw,
            ),
            context(
                Topic.FLUSH_AFTER_LOCAL_EDITS,
                f"the {args.edits} local edits themselves",
                best.edit * 1e3,
                best.raw * 1e3,
                unit="ms",
                reference_label=raw,
            ),
            Row(
                Topic.WRITING_FLAT_OUT,
                f"stored/s, appending for {args.seconds:g} s ({flat.written:,} edits)",
                flat.stored_rate,
                flat.applied_rate,
                "/s",
                applied,
                f"≥ 0.95x {applied}",
                flat.stored_rate >= 0.95 * flat.applied_rate,
            ),
            context(
                Topic.WRITING_FLAT_OUT,
                "final flush",
                flat.flush * 1e3,
                flat.seconds * 1e3,
                unit="ms",
                reference_label="the writing time",
            ),
            context(
                Topic.WRITING_FLAT_OUT,
                "server peak RSS",
                flat.rss_peak,
                flat.rss_before,
                unit="MiB",
                reference_label="before writing",
            ),
        ),
    )


if __name__ == "__main__":
    main()
