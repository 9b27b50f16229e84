"""Many writers in one room, flat out: offered vs applied edits and evictions, ours beside pycrdt-websocket.

    python bench/writers.py [--writers 10] [--rate 8000] [--seconds 5] [--converge-seconds 60]

Each server runs in its own process (ours: `mesh-tools serve` with SQLite; the reference:
pycrdt-websocket, in memory), driven by the clients of bench/sync_latency.py. ``--writers`` clients
share ``--rate`` appends per second for ``--seconds`` while reading everyone else's; then each waits
(up to ``--converge-seconds``) until it holds every edit. Reports edits applied by every writer, how
many writers were disconnected (ours closes a reader past its byte budget with 1013), and the time to
converge after the last edit. Target: no writer disconnected, everything applied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time

from _summary import Row, Topic, add_summary_argument, context, record
from pycrdt import create_update_message
from rich.console import Console
from rich.table import Table
from sync_latency import SCHEMA, Client, children, ensure_reference_installed, server_process

from mesh_tools.document import MeshDocument


async def writer_run(
    kind: str, url: str, count: int, per_writer: float, seconds: float, converge_seconds: float
) -> tuple[int, int, int, float]:
    async with contextlib.AsyncExitStack() as stack:
        docs = [MeshDocument(schema=SCHEMA) for _ in range(count)]
        outboxes: list[list[bytes]] = [[] for _ in range(count)]
        for doc, outbox in zip(docs, outboxes, strict=True):
            doc.on_update(lambda update, origin, box=outbox: box.append(update) if origin is None else None)
        clients = [await stack.enter_async_context(Client.connect(kind, url, doc.ydoc)) for doc in docs]
        base = children(clients[0].ydoc)

        async def write(index: int) -> int:
            sent = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                due = int((time.perf_counter() - started) * per_writer) + 1
                while sent < due:
                    docs[index].root.append_child("p", {"n": sent})
                    sent += 1
                with contextlib.suppress(Exception):  # a closed connection shows in the close code
                    for update in outboxes[index]:
                        await clients[index].send(create_update_message(update))
                outboxes[index].clear()
                await asyncio.sleep(0.005)
            return sent

        offered = sum(await asyncio.gather(*(write(i) for i in range(count))))
        last_edit = time.perf_counter()
        target = base + offered

        deadline = last_edit + converge_seconds

        # Each waiter watches the deadline itself: cancelling them from an outer wait_for could be lost
        # in the inner one's (Python 3.11's wait_for swallows a cancel that races its result), and a
        # writer that never converges then kept the bench waiting forever.
        async def converged(client: Client) -> None:
            while children(client.ydoc) < target and client.connection.close_code is None:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return
                client.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.changed.wait(), min(1.0, remaining))

        await asyncio.gather(*(converged(c) for c in clients))
        settle = time.perf_counter() - last_edit
        applied = min(children(c.ydoc) for c in clients) - base
        evicted = sum(1 for c in clients if c.connection.close_code is not None)
    return offered, applied, evicted, settle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=8000.0, help="appends per second, all writers together")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--converge-seconds", type=float, default=60.0, help="most time the writers wait to hold every edit"
    )
    add_summary_argument(parser)
    args = parser.parse_args()
    ensure_reference_installed()
    table = Table(
        title=f"{args.writers} writers in one room, {args.rate:,.0f} edits/s offered for {args.seconds} s"
    )
    for column in (
        "server",
        "offered",
        "applied by every writer",
        "writers disconnected",
        "converged after s",
    ):
        table.add_column(column, justify="right")
    runs: dict[str, tuple[int, int, int, float]] = {}
    for kind in ("ours", "reference"):
        with tempfile.TemporaryDirectory() as data_dir, server_process(kind, data_dir) as url:
            runs[kind] = offered, applied, evicted, settle = asyncio.run(
                writer_run(
                    kind, url, args.writers, args.rate / args.writers, args.seconds, args.converge_seconds
                )
            )
        table.add_row(kind, f"{offered:,}", f"{applied:,}", str(evicted), f"{settle:.1f}")
    Console().print(table)
    (offered, applied, evicted, settle), reference = runs["ours"], runs["reference"]
    label, setup = "pycrdt-websocket", f"{args.writers} writers at {args.rate:,.0f} edits/s"
    record(
        args.summary,
        (
            Row(
                Topic.MANY_WRITERS,
                f"{setup}: share of the offered edits applied by every writer ({applied:,} of {offered:,})",
                100 * applied / offered,
                100 * reference[1] / reference[0],
                "%",
                label,
                "100%",
                applied == offered,
            ),
            Row(
                Topic.MANY_WRITERS,
                f"{setup}: writers disconnected",
                evicted,
                reference[2],
                "writers",
                label,
                "none",
                evicted == 0,
            ),
            context(
                Topic.MANY_WRITERS,
                f"{setup}: converged after the last edit",
                settle,
                reference[3],
                unit="s",
                reference_label=label,
            ),
        ),
    )


if __name__ == "__main__":
    main()
