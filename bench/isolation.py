"""Other participants' latency while one client misbehaves, beside the same figure with none, same run.

    python bench/isolation.py [--seconds 4] [--describes 10] [--describe-elements 60000] [--only KINDS]

`mesh-tools serve` runs in its own process with SQLite storage. Two probe clients (from this process)
measure edit -> remote visible latency, round after round, on a small document of the room. A third
client, in a process of its own so its sending does not slow the probes' loop, misbehaves in one of
these ways while the probes run:

- awareness flood: awareness frames on the probes' document, back to back, for ``--seconds``;
- one 8 MiB update: a single update frame of ~8 MiB of new elements into another document;
- big describes: ``--describes`` pipelined ``sync.describe`` of a ``--describe-elements`` document;
- big opens: ``--describes`` clients at once open that document with nothing of it (each is sent all
  of it, a ~4.6 MB update for 60k elements).

Quiet is the same probes for ``--seconds`` with nobody misbehaving. Printed: probe rounds, p50, p99,
the longest round (the stall; inf: a probe was evicted or waited over 15 s), and p99 against quiet
(targets: <= 3x quiet p99, no stall over 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from _summary import Row, Topic, add_summary_argument, at_most, record
from pycrdt import (
    Doc,
    Encoder,
    XmlElement,
    XmlFragment,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
)
from rich.console import Console
from rich.table import Table
from sync_latency import ROOM, SCHEMA, SECRET, Client, children, server_process, wait_for_children
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.document._layout import root_update
from mesh_tools.sync import Request, Response, decode_binary, decode_text, encode_binary, encode_text
from mesh_tools.tokens import ParticipantToken

BIG_SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="text", type="string")]),
    ],
)
#: A probe round that takes longer than this counts as never completing (the probe stops there).
PROBE_TIMEOUT = 15.0
MISBEHAVIOURS = ("awareness flood", "one 8 MiB update", "big describes", "big opens")


# -- the misbehaving client (its own process) -------------------------------------------------------


async def request(connection: ClientConnection, request_id: int, type_: str, **params: Any) -> dict[str, Any]:
    await connection.send(encode_text(Request(request_id, type_, params)))
    while True:
        frame = await connection.recv()
        if isinstance(frame, bytes):  # sync frames of an open channel
            continue
        message = decode_text(frame)
        if isinstance(message, Response) and message.id == request_id:
            if message.error is not None:
                raise message.error
            assert message.result is not None
            return message.result


def big_update(elements: int, text_size: int) -> bytes:
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(root_update(BIG_SCHEMA.root_tag_name))
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    with ydoc.transaction():
        # Inserted at the front, last first: an append walks the whole child list (quadratic in total).
        for i in reversed(range(elements)):
            root.children.insert(0, XmlElement("p", {"$id": f"big{i:06d}", "text": "x" * text_size}))
    return ydoc.get_update(state)


async def misbehave(url: str, kind: str, seconds: float, describes: int, describe_elements: int) -> None:
    token = ParticipantToken.for_room(name="mallory", room=ROOM).to_jwt(token=SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    # Payloads are built before connecting: building them blocks this process's event loop.
    if kind in ("big describes", "big opens"):
        # Plain pycrdt: building 60k elements through the checked API takes minutes on a busy machine.
        data = base64.b64encode(big_update(describe_elements, 12)).decode()
    elif kind == "one 8 MiB update":
        update = big_update(2_000, 4_000)
    # No keepalive: the set-up (storing a 60k-element document) can hold the server past a ping wait.
    async with connect(
        f"{url}/rooms/{ROOM}", additional_headers=headers, max_size=None, ping_interval=None
    ) as connection:
        await request(connection, 0, "schema.put", name="doc", schema=SCHEMA.to_json())
        if kind in ("big describes", "big opens"):
            await request(connection, 1, "sync.create", path="huge.doc", schema=BIG_SCHEMA.to_json())
            await request(connection, 2, "sync.sync", path="huge.doc", data=data)
        elif kind == "one 8 MiB update":
            await request(connection, 1, "sync.create", path="big.doc", schema=BIG_SCHEMA.to_json())
            channel = (await request(connection, 2, "sync.open", path="big.doc"))["channel"]
        else:
            channel = (await request(connection, 1, "sync.open", path="bench.doc"))["channel"]
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the probes are running (keep answering pings)
        if kind == "awareness flood":
            deadline = time.perf_counter() + seconds
            clock = 0
            while time.perf_counter() < deadline:
                clock += 1
                encoder = Encoder()
                encoder.write_var_uint(1)
                encoder.write_var_uint(4242)
                encoder.write_var_uint(clock)
                encoder.write_var_string('{"user": {"name": "mallory", "cursor": ' + str(clock) + "}}")
                await connection.send(encode_binary(channel, create_awareness_message(encoder.to_bytes())))
        elif kind == "one 8 MiB update":
            await connection.send(encode_binary(channel, create_update_message(update)))
            await request(connection, 3, "sync.flush", channel=channel)
        elif kind == "big opens":
            await asyncio.gather(*(open_with_nothing(url, headers) for _ in range(describes)))
        else:
            for i in range(describes):
                await connection.send(encode_text(Request(100 + i, "sync.describe", {"path": "huge.doc"})))
            answered = 0
            while answered < describes:
                frame = await connection.recv()
                if isinstance(frame, str) and isinstance(decode_text(frame), Response):
                    answered += 1
        print("done", flush=True)


async def open_with_nothing(url: str, headers: dict[str, str]) -> None:
    """Open huge.doc as a new replica would: SyncStep1 with an empty state, then wait for SyncStep2."""
    async with connect(
        f"{url}/rooms/{ROOM}", additional_headers=headers, max_size=None, ping_interval=None
    ) as connection:
        channel = (await request(connection, 1, "sync.open", path="huge.doc"))["channel"]
        await connection.send(encode_binary(channel, create_sync_message(Doc())))
        while True:
            frame = await connection.recv()
            if isinstance(frame, bytes) and is_step2(frame, channel):
                return


def is_step2(frame: bytes, channel: int) -> bool:
    decoded_channel, message = decode_binary(frame)
    step2 = bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2])
    return decoded_channel == channel and message[:2] == step2


# -- the probes ------------------------------------------------------------------------------------


async def probe(url: str, stop: asyncio.Event) -> list[float]:
    """Edit -> visible round trips between two clients until ``stop``; seconds per round."""
    writer_doc = MeshDocument(schema=SCHEMA)
    outgoing: list[bytes] = []
    writer_doc.on_update(lambda update, origin: outgoing.append(update) if origin is None else None)
    samples: list[float] = []
    async with (
        Client.connect("ours", url, writer_doc.ydoc) as writer,
        Client.connect("ours", url, Doc()) as reader,
    ):
        count = children(reader.ydoc)
        for i in range(20):  # warm-up, not counted
            writer_doc.root.append_child("p", {"n": i})
            await writer.send(create_update_message(outgoing.pop()))
            count += 1
            await wait_for_children(reader, count)
        while not stop.is_set():
            started = time.perf_counter()
            writer_doc.root.append_child("p", {"n": count})
            try:
                await writer.send(create_update_message(outgoing.pop()))
                count += 1
                async with asyncio.timeout(PROBE_TIMEOUT):
                    await wait_for_children(reader, count)
            except (TimeoutError, ConnectionClosed):
                # Evicted, or starved past the timeout: a probe round that never completes.
                samples.append(float("inf"))
                return samples
            samples.append(time.perf_counter() - started)
            await asyncio.sleep(0.002)  # a typing pace, not a flood of our own
    return samples


async def measure(url: str, kind: str | None, args: argparse.Namespace) -> list[float]:
    stop = asyncio.Event()
    if kind is None:
        probes = asyncio.create_task(probe(url, stop))
        await asyncio.sleep(args.seconds)
        stop.set()
        return await probes
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--misbehave",
        kind,
        "--url",
        url,
        "--seconds",
        str(args.seconds),
        "--describes",
        str(args.describes),
        "--describe-elements",
        str(args.describe_elements),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    probes = asyncio.create_task(probe(url, stop))
    await asyncio.sleep(0.5)  # probes warmed up
    process.stdin.write(b"go\n")
    await process.stdin.drain()
    await process.stdout.readline()  # "done", or EOF if the server closed the misbehaving client
    await asyncio.sleep(0.2)
    stop.set()
    samples = await probes
    await process.wait()
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run(args: argparse.Namespace) -> None:
    table = Table(title=f"probe edit -> visible while one client misbehaves ({os.cpu_count()} CPUs)")
    for column in ("misbehaving client", "rounds", "p50 ms", "p99 ms", "max ms (stall)", "p99 vs quiet"):
        table.add_column(column, justify="right" if column != "misbehaving client" else "left")
    quiet_p99 = quiet_worst = 0.0
    rows: list[Row] = []
    for kind in (None, *args.only):
        with tempfile.TemporaryDirectory() as data_dir, server_process("ours", data_dir) as url:
            samples = await measure(url, kind, args)
        if not samples:
            samples = [float("inf")]
        p50, p99, worst = statistics.median(samples), percentile(samples, 0.99), max(samples)
        if kind is None:
            quiet_p99, quiet_worst = p99, worst
        else:
            rows.append(
                at_most(
                    Topic.ISOLATION,
                    f"probe p99 during {kind}",
                    p99 * 1e3,
                    quiet_p99 * 1e3,
                    factor=3,
                    unit="ms",
                    reference_label="quiet",
                )
            )
            rows.append(
                Row(
                    Topic.ISOLATION,
                    f"longest probe round during {kind}",
                    worst * 1e3,
                    quiet_worst * 1e3,
                    "ms",
                    "quiet",
                    "≤ 50 ms",
                    worst <= 0.05,
                )
            )
        table.add_row(
            kind or "none (quiet)",
            str(len(samples)),
            f"{p50 * 1e3:.2f}",
            f"{p99 * 1e3:.2f}",
            f"{worst * 1e3:.1f}",
            f"{p99 / quiet_p99:.1f}x",
        )
    Console().print(table)
    print("targets: p99 <= 3x quiet p99, no stall over 50 ms")
    record(args.summary, rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--describes", type=int, default=10)
    parser.add_argument("--describe-elements", type=int, default=60_000)
    parser.add_argument(
        "--only",
        type=lambda text: [kind.strip() for kind in text.split(",")],
        default=list(MISBEHAVIOURS),
        help="comma-separated misbehaviours to run (quiet always runs: it is the reference); default: all of "
        + ", ".join(MISBEHAVIOURS),
    )
    parser.add_argument("--misbehave", choices=MISBEHAVIOURS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    add_summary_argument(parser)
    args = parser.parse_args()
    if unknown := [kind for kind in args.only if kind not in MISBEHAVIOURS]:
        parser.error(f"--only: unknown misbehaviour {', '.join(map(repr, unknown))}")
    if args.misbehave:
        asyncio.run(misbehave(args.url, args.misbehave, args.seconds, args.describes, args.describe_elements))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
