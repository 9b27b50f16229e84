"""One RoomClient opening many documents at once, beside the same client opening them one after another.

    python bench/open_many.py [--documents 500] [--elements 100] [--timeout 60]

Through ``mesh-tools serve`` (a child process, SQLite, ``--keep-loaded 0`` so that every open loads its
document from storage): ``--documents`` documents of ``--elements`` children each are stored first.
Then one RoomClient opens them all at once (``sync.open`` for every path concurrently) and waits until
every one is synchronized, for at most ``--timeout`` seconds; it counts its reconnections (the server
drops a client whose send queue overflows with 1013, and the client reconnects and resyncs). The
documents are closed, and a fresh RoomClient opens them one after another, each synchronized before
the next (the reference: no burst at all). Target: every document synchronized, no reconnection, and
the burst no slower than opening them one by one.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _serve import ROOM, ours_server, reconnections, room_client  # bench/ is on the path
from _summary import Row, Topic, add_summary_argument, at_most, record
from create_describe import document_json
from rich.console import Console
from rich.table import Table
from room_load import SCHEMA

from mesh_tools.client import RoomClient
from mesh_tools.document import MeshDocument
from mesh_tools.server import SQLiteStorage
from mesh_tools.server._room_server import DATABASE_NAME


@dataclass(frozen=True)
class Opening:
    synchronized: int
    seconds: float
    reconnections: int


async def create(data_dir: str, paths: list[str], elements: int) -> None:
    """The documents, written straight into the server's database before it starts (much faster
    than ``sync.create`` each, and the same stored state)."""
    doc = MeshDocument.from_json(SCHEMA, document_json(elements))
    state = doc.get_update()
    doc.close()
    storage = SQLiteStorage(Path(data_dir) / DATABASE_NAME)
    await storage.open()
    for path in paths:
        await storage.create_document(ROOM, path, schema=SCHEMA.to_json(), epoch=path, update=state)
    await storage.close()


async def open_synchronized(client: RoomClient, path: str) -> None:
    document = await client.sync.open(path)
    await document.synchronized


async def at_once(url: str, paths: list[str], timeout: float) -> Opening:
    async with room_client(url, request_timeout=timeout) as client:
        start = time.perf_counter()
        tasks = [asyncio.create_task(open_synchronized(client, path)) for path in paths]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        seconds = time.perf_counter() - start
        for task in pending:
            task.cancel()
        synchronized = sum(1 for task in done if task.exception() is None)
        opening = Opening(synchronized, seconds, reconnections(client))
        await asyncio.gather(*(client.sync.close(path) for path in client.sync.get_open_documents()))
    return opening


async def one_by_one(url: str, paths: list[str]) -> Opening:
    async with room_client(url) as client:
        start = time.perf_counter()
        for path in paths:
            await open_synchronized(client, path)
        seconds = time.perf_counter() - start
        opening = Opening(len(paths), seconds, reconnections(client))
        for path in paths:
            await client.sync.close(path)
    return opening


async def measure(url: str, paths: list[str], timeout: float) -> tuple[Opening, Opening]:
    return await at_once(url, paths, timeout), await one_by_one(url, paths)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--elements", type=int, default=100, help="children of each document")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="most seconds the burst may take to synchronize"
    )
    add_summary_argument(parser)
    args = parser.parse_args()
    paths = [f"d{i:04}.doc" for i in range(args.documents)]
    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(create(data_dir, paths, args.elements))
        with ours_server(data_dir, "--keep-loaded", "0") as (url, _):
            burst, reference = asyncio.run(measure(url, paths, args.timeout))
    table = Table(title=f"one RoomClient opening {args.documents} documents of {args.elements} elements")
    for column in ("opened", "synchronized", "seconds", "reconnections"):
        table.add_column(column, justify="right")
    for label, opening in (("at once (ours)", burst), ("one by one (reference)", reference)):
        table.add_row(
            label, f"{opening.synchronized:,}", f"{opening.seconds:.2f}", str(opening.reconnections)
        )
    Console().print(table)
    one_by_one_label = "one by one"
    record(
        args.summary,
        (
            Row(
                Topic.OPEN_500,
                f"documents synchronized, {args.documents} opened at once",
                burst.synchronized,
                reference.synchronized,
                "documents",
                one_by_one_label,
                "all",
                burst.synchronized == args.documents,
            ),
            Row(
                Topic.OPEN_500,
                "reconnections while opening at once (the server dropped the client)",
                burst.reconnections,
                reference.reconnections,
                "reconnections",
                one_by_one_label,
                "none",
                burst.reconnections == 0,
            ),
            at_most(
                Topic.OPEN_500,
                "time until all synchronized",
                burst.seconds,
                reference.seconds,
                factor=1,
                unit="s",
                reference_label=one_by_one_label,
            ),
        ),
    )


if __name__ == "__main__":
    main()
