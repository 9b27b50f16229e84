"""Sync latency and fan-out through our room server, beside pycrdt-websocket (the reference) in the same run.

    python bench/sync_latency.py [--rounds 1000] [--clients 50] [--updates 200] [--repeats 3]

Each server runs in its own process (ours: `mesh-tools serve` with SQLite storage; the reference:
pycrdt-websocket's WebsocketServer, in memory, pip-installed on first use). The same pycrdt clients drive
both, from this process; the only difference is our protocol's `sync.open` and channel prefix.

- latency: 2 clients; one appends an element, the time until the other has integrated it; p50/p99 over
  ``--rounds`` sequential edits (targets on loopback: p50 <= 1 ms, p99 <= 5 ms).
- fan-out: ``--clients`` receivers and one writer in one room; the writer sends ``--updates`` edits
  back to back; deliveries/s = receivers x updates / time until every receiver has every edit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from _summary import Topic, add_summary_argument, at_most, context, record  # bench/ is on the path
from pycrdt import (
    Doc,
    XmlElement,
    XmlFragment,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.sync import (
    Request,
    Response,
    decode_binary,
    decode_text,
    encode_binary,
    encode_text,
)
from mesh_tools.tokens import ParticipantToken

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers
from tests.support import WebsocketChannel

SECRET = "bench-secret-0123456789abcdef0123456789"
ROOM = "bench"
PATH = "bench.doc"
#: Edits before the measured ones (connection set-up, first allocations).
WARM_UP_ROUNDS = 50
SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="n", type="number")]),
    ],
)


# -- the reference server (run in a child process) -------------------------------------------------


def ensure_reference_installed() -> None:
    try:
        import pycrdt.websocket  # noqa: F401
    except ImportError:
        print("installing pycrdt-websocket (the reference server) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pycrdt-websocket"], check=True)


async def run_reference_server() -> None:
    from pycrdt.websocket import WebsocketServer
    from websockets.asyncio.server import ServerConnection, serve

    async with WebsocketServer(auto_clean_rooms=False) as room_server:

        async def handler(connection: ServerConnection) -> None:
            assert connection.request is not None
            await room_server.serve(WebsocketChannel(connection, connection.request.path))

        # Same transport settings as ours: no compression, no frame size limit in the way.
        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
            await asyncio.Future()


@contextlib.contextmanager
def server_process(kind: str, data_dir: str) -> Iterator[str]:
    with server_subprocess(kind, data_dir) as (url, _):
        yield url


@contextlib.contextmanager
def server_subprocess(kind: str, data_dir: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The server's URL and its process (to watch its CPU time or system calls)."""
    if kind == "ours":
        command = ["-m", "mesh_tools", "serve", "--port", "0", "--data-dir", data_dir]
    else:
        command = [__file__, "--reference-server"]
    with python_server(command, name=f"{kind} server") as started:
        yield started


@contextlib.contextmanager
def python_server(arguments: list[str], *, name: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``python ARGUMENTS``, a server that prints its ws:// URL first; its URL and process."""
    env = {**os.environ, "MESH_TOOLS_SECRET": SECRET}
    process = subprocess.Popen([sys.executable, *arguments], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError(f"{name} did not start")
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


# -- one pycrdt client for both servers ----------------------------------------------------------------


class Client:
    """A y-sync client over one connection; ``channel`` is None for the plain y-websocket protocol."""

    def __init__(self, connection: ClientConnection, channel: int | None, ydoc: Doc[Any]) -> None:
        self.connection = connection
        self.channel = channel
        self.ydoc = ydoc
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, kind: str, url: str, ydoc: Doc[Any]) -> AsyncIterator[Client]:
        if kind == "ours":
            token = ParticipantToken.for_room(name="bench", room=ROOM).to_jwt(token=SECRET)
            target, headers = f"{url}/rooms/{ROOM}", {"Authorization": f"Bearer {token}"}
        else:
            target, headers = f"{url}/{ROOM}", {}
        async with connect(target, additional_headers=headers, compression=None, max_size=None) as connection:
            channel = None
            if kind == "ours":
                await connection.send(
                    encode_text(Request(1, "schema.put", {"name": "doc", "schema": SCHEMA.to_json()}))
                )
                await connection.send(encode_text(Request(2, "sync.open", {"path": PATH, "create": True})))
                for _ in range(2):
                    response = decode_text(await connection.recv())
                    assert isinstance(response, Response) and response.result is not None, response
                channel = response.result["channel"]
            client = cls(connection, channel, ydoc)
            await client.send(create_sync_message(ydoc))
            await client.synced.wait()
            try:
                yield client
            finally:
                client._reader.cancel()

    async def send(self, message: bytes) -> None:
        await self.connection.send(message if self.channel is None else encode_binary(self.channel, message))

    async def _read(self) -> None:
        async for frame in self.connection:
            if isinstance(frame, str):
                continue
            message = frame if self.channel is None else decode_binary(frame)[1]
            if message[0] != YMessageType.SYNC:
                continue
            reply = handle_sync_message(message[1:], self.ydoc)
            if reply is not None:  # our Step2, answering the server's Step1
                await self.send(reply)
                continue
            if message[1] == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
            self.changed.set()


def children(ydoc: Doc[Any]) -> int:
    fragment = ydoc.get(FRAGMENT_NAME, type=XmlFragment)
    root = fragment.children[0] if len(fragment.children) else None
    return len(root.children) if isinstance(root, XmlElement) else 0


async def wait_for_children(client: Client, count: int) -> None:
    while children(client.ydoc) < count:
        client.changed.clear()
        await client.changed.wait()


# -- measurements ---------------------------------------------------------------------------------------


async def measure_latency(kind: str, writer_url: str, reader_url: str, rounds: int) -> tuple[float, float]:
    """p50 and p99 (ms) of edit -> visible on the reader, over ``rounds`` sequential edits after a warm-up."""
    writer_doc = MeshDocument(schema=SCHEMA)
    outgoing: list[bytes] = []
    writer_doc.on_update(lambda update, origin: outgoing.append(update) if origin is None else None)
    reader_doc = MeshDocument(schema=SCHEMA)
    async with (
        Client.connect(kind, writer_url, writer_doc.ydoc) as writer,
        Client.connect(kind, reader_url, reader_doc.ydoc) as reader,
    ):
        start_count = children(reader.ydoc)
        samples: list[float] = []
        for i in range(rounds + WARM_UP_ROUNDS):
            started = time.perf_counter()
            writer_doc.root.append_child("p", {"n": i})
            await writer.send(create_update_message(outgoing.pop()))
            await wait_for_children(reader, start_count + i + 1)
            if i >= WARM_UP_ROUNDS:
                samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000


async def measure_fanout(kind: str, url: str, receivers: int, updates: int) -> float:
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client.connect(kind, url, Doc())) for _ in range(receivers)
        ]
        writer_doc = MeshDocument(schema=SCHEMA)
        outgoing: list[bytes] = []
        writer_doc.on_update(lambda update, origin: outgoing.append(update) if origin is None else None)
        writer = await stack.enter_async_context(Client.connect(kind, url, writer_doc.ydoc))
        target = children(writer.ydoc) + updates
        started = time.perf_counter()
        for i in range(updates):
            writer_doc.root.append_child("p", {"n": i})
            await writer.send(create_update_message(outgoing.pop()))
        await asyncio.gather(*(wait_for_children(client, target) for client in clients))
        elapsed = time.perf_counter() - started
    return receivers * updates / elapsed


async def run(args: argparse.Namespace) -> None:
    results: dict[str, tuple[float, float, float]] = {}
    for kind in ("ours", "reference"):
        with tempfile.TemporaryDirectory() as data_dir, server_process(kind, data_dir) as url:
            p50, p99 = await measure_latency(kind, url, url, args.rounds)
        rates = []
        for _ in range(args.repeats):  # fan-out is noisy on a small machine: keep the median
            with tempfile.TemporaryDirectory() as data_dir, server_process(kind, data_dir) as url:
                rates.append(await measure_fanout(kind, url, args.clients, args.updates))
        rate = statistics.median(rates)
        results[kind] = (p50, p99, rate)
    table = Table(title=f"edit -> remote visible, loopback, {os.cpu_count()} CPUs")
    table.add_column("server")
    table.add_column(f"p50 ms (2 clients, {args.rounds} edits)", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column(f"fan-out deliveries/s ({args.clients} clients x {args.updates})", justify="right")
    names = {"ours": "mesh-tools RoomServer (SQLite log)", "reference": "pycrdt-websocket 0.16 (in memory)"}
    for kind, (p50, p99, rate) in results.items():
        table.add_row(names[kind], f"{p50:.3f}", f"{p99:.3f}", f"{rate:,.0f}")
    Console().print(table)
    ours, reference = results["ours"], results["reference"]
    print(
        f"targets: p50 <= 1 ms {'met' if ours[0] <= 1 else 'MISSED'}; p99 <= 5 ms "
        f"{'met' if ours[1] <= 5 else 'MISSED'}; p50 vs reference {ours[0] / reference[0]:.2f}x; "
        f"fan-out vs reference {ours[2] / reference[2]:.2f}x"
    )
    label = "pycrdt-websocket"
    record(
        args.summary,
        (
            at_most(
                Topic.EDIT_TO_VISIBLE,
                f"p99 over {args.rounds:,} edits",
                ours[1],
                reference[1],
                factor=1.5,
                unit="ms",
                reference_label=label,
            ),
            context(Topic.EDIT_TO_VISIBLE, "p50", ours[0], reference[0], unit="ms", reference_label=label),
            context(
                Topic.FANOUT,
                f"{args.clients} receivers x {args.updates} edits, median of {args.repeats}",
                ours[2],
                reference[2],
                unit="deliveries/s",
                reference_label=label,
            ),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="fan-out runs per server (median)")
    parser.add_argument("--reference-server", action="store_true", help=argparse.SUPPRESS)
    add_summary_argument(parser)
    args = parser.parse_args()
    if args.reference_server:
        asyncio.run(run_reference_server())
        return
    ensure_reference_installed()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
