"""System calls per frame under fan-out: does the server batch the frames each client is owed?

    python bench/fanout_syscalls.py [--documents 5] [--readers 20] [--edits 100] [--repeats 3]

``--documents`` writers each edit their own document (one edit every 5 ms); ``--readers`` clients
each have every document open on one connection, so each tick owes a reader several frames on
different channels. ``strace -c -f`` counts the server's socket writes (sendto, sendmsg, write, writev)
while the readers count the WebSocket frames they get: websockets' ``send`` costs one write per frame
to a reader that keeps up (the reference figure, 1.0 frame per write); ours writes everything a reader
is owed per turn at once. asyncio also joins writes on its own while a reader's socket is full, so on
a loaded machine (slow readers) the reference would be above 1.0 too: compare runs at the same load.
Needs strace (``apt-get install strace``); strace slows the server, so no time is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pycrdt import Doc, YMessageType, create_sync_message, create_update_message, handle_sync_message
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from mesh_tools.document import MeshDocument
from mesh_tools.sync import Request, Response, decode_binary, decode_text, encode_binary, encode_text
from mesh_tools.tokens import ParticipantToken

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _summary import Row, Topic, add_summary_argument, record
from sync_latency import ROOM, SCHEMA, SECRET, children, server_subprocess

WRITES = "sendto,sendmsg,write,writev"


class Reader:
    """One connection with several documents open, one channel each; counts the frames it gets."""

    def __init__(self, connection: ClientConnection, docs: dict[int, Doc]) -> None:
        self.connection = connection
        self.docs = docs
        self.frames = 0
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls, stack: contextlib.AsyncExitStack, url: str, paths: list[str], ydocs: list[Doc] | None = None
    ) -> Reader:
        """Open ``paths`` on one connection, each into its Doc of ``ydocs`` (new ones by default)."""
        ydocs = ydocs or [Doc() for _ in paths]
        token = ParticipantToken.for_room(name="bench", room=ROOM).to_jwt(token=SECRET)
        connection = await stack.enter_async_context(
            connect(
                f"{url}/rooms/{ROOM}",
                additional_headers={"Authorization": f"Bearer {token}"},
                compression=None,
                max_size=None,
            )
        )
        await connection.send(
            encode_text(Request(0, "schema.put", {"name": "doc", "schema": SCHEMA.to_json()}))
        )
        for number, path in enumerate(paths, start=1):
            await connection.send(encode_text(Request(number, "sync.open", {"path": path, "create": True})))
        docs: dict[int, Doc] = {}
        while len(docs) < len(paths):
            frame = await connection.recv()
            response = decode_text(frame) if isinstance(frame, str) else None
            if isinstance(response, Response) and response.result and "channel" in response.result:
                docs[response.result["channel"]] = ydocs[response.id - 1]
        reader = cls(connection, docs)
        stack.callback(reader.task.cancel)
        for channel, doc in docs.items():
            await connection.send(encode_binary(channel, create_sync_message(doc)))
        return reader

    async def _read(self) -> None:
        async for frame in self.connection:
            self.frames += 1
            if isinstance(frame, str):
                continue
            channel, message = decode_binary(frame)
            if message[0] != YMessageType.SYNC:
                continue
            reply = handle_sync_message(message[1:], self.docs[channel])
            if reply is not None:
                await self.connection.send(encode_binary(channel, reply))
            self.changed.set()

    def elements(self) -> int:
        return sum(children(doc) for doc in self.docs.values())


async def write(reader: Reader, document: MeshDocument, edits: int) -> None:
    """Edit ``document`` (the reader's one document) ``edits`` times, 5 ms apart."""
    ((channel, _),) = reader.docs.items()
    outgoing: list[bytes] = []
    document.on_update(lambda update, origin: outgoing.append(update) if origin is None else None)
    for i in range(edits):
        document.root.append_child("p", {"n": i})
        while outgoing:
            await reader.connection.send(encode_binary(channel, create_update_message(outgoing.pop(0))))
        await asyncio.sleep(0.005)


async def measure(url: str, pid: int, args: argparse.Namespace) -> tuple[int, int]:
    """(frames the readers got, socket writes the server made) while the writers edit."""
    paths = [f"fanout/{i}.doc" for i in range(args.documents)]
    async with contextlib.AsyncExitStack() as stack:
        readers = [await Reader.open(stack, url, paths) for _ in range(args.readers)]
        documents = [MeshDocument(schema=SCHEMA) for _ in paths]
        writers = [
            await Reader.open(stack, url, [path], [document.ydoc])
            for path, document in zip(paths, documents, strict=True)
        ]
        await asyncio.sleep(1.0)  # handshakes done
        before = sum(reader.frames for reader in readers)
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as counts:
            tracer = subprocess.Popen(
                ["strace", "-c", "-f", "-e", f"trace={WRITES}", "-o", counts.name, "-p", str(pid)],
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(0.5)  # attached
            await asyncio.gather(
                *(
                    write(writer, document, args.edits)
                    for writer, document in zip(writers, documents, strict=True)
                )
            )
            target = args.documents * args.edits
            for reader in readers:
                while reader.elements() < target:
                    reader.changed.clear()
                    await reader.changed.wait()
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            calls = sum(
                int(line.split()[3])
                for line in counts.read().splitlines()
                if line.split() and line.split()[-1] in WRITES.split(",")
            )
        return sum(reader.frames for reader in readers) - before, calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    add_summary_argument(parser)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("this benchmark needs strace (apt-get install strace)")
    runs: list[tuple[int, int]] = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as data_dir, server_subprocess("ours", data_dir) as (url, process):
            runs.append(asyncio.run(measure(url, process.pid, args)))
    table = Table(
        title=f"server socket writes, {args.documents} writers x {args.readers} readers with every document "
        f"open, {args.edits} edits each (median of {args.repeats})"
    )
    for column in ("", "frames delivered", "socket writes", "frames per write"):
        table.add_column(column, justify="right" if column else "left")
    frames = statistics.median(run[0] for run in runs)
    calls = statistics.median(run[1] for run in runs)
    table.add_row(
        "websockets' send, one write per frame (reference)", f"{frames:,.0f}", f"{frames:,.0f}", "1.0"
    )
    table.add_row(
        "mesh-tools RoomServer (batched per reader)",
        f"{frames:,.0f}",
        f"{calls:,.0f}",
        f"{frames / calls:.1f}",
    )
    Console().print(table)
    record(
        args.summary,
        [
            Row(
                Topic.SOCKET_WRITES,
                f"frames per socket write, {args.documents} writers x {args.readers} readers",
                frames / calls,
                1.0,
                "frames/write",
                "websockets' send",
                "> 1 (frames batched)",
                frames > calls,
            )
        ],
    )


if __name__ == "__main__":
    main()
