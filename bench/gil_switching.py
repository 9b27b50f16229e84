"""Event-loop round trips while a worker thread runs Python, per GIL switch interval, same run.

    python bench/gil_switching.py [--seconds 1.5] [--repeats 2]

The room server runs big updates' Python (the guard's answer, the index and the schema check of what
they insert) on a worker thread. Meanwhile the event loop thread waits for the GIL after every system
call for up to the switch interval (``RoomServer`` lowers it, ``mesh_tools.server._worker_threads``).
Here an asyncio echo server in this process answers a client in another process (a small message,
then 2 ms of pause, like bench/isolation.py's probes) while a thread of this process runs Python
without pause; printed: the client's round trips (p50, p99, max) per interval, beside the same with
no busy thread (the reference). Run it under ``chrt -f 10`` on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time

from rich.console import Console
from rich.table import Table

INTERVALS = (0.0005, 0.0002, 0.0001, 0.00005)
MESSAGE = b"x" * 64


def client(port: int, seconds: float) -> None:
    """Round trips to the echo server for ``seconds``; prints them, in ms, one line."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        connection.sendall(MESSAGE)
        received = 0
        while received < len(MESSAGE):
            received += len(connection.recv(len(MESSAGE) - received))
        samples.append((time.perf_counter() - started) * 1e3)
        time.sleep(0.002)
    print(" ".join(f"{sample:.3f}" for sample in samples), flush=True)


def run_python(stop: threading.Event) -> None:
    """Python without pause, allocating like the index walk does."""
    scratch: dict[int, str] = {}
    while not stop.is_set():
        for i in range(2_000):
            scratch[i] = str(i) * 3
        scratch.clear()


async def measure(interval: float, busy: bool, seconds: float) -> list[float]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(len(MESSAGE)):
            writer.write(data)
            await writer.drain()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    saved = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    stop = threading.Event()
    worker = threading.Thread(target=run_python, args=(stop,))
    if busy:
        worker.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            str(port),
            "--seconds",
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate()
    finally:
        stop.set()
        if busy:
            worker.join()
        sys.setswitchinterval(saved)
        server.close()
    return [float(sample) for sample in output.split()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        client(args.client, args.seconds)
        return
    table = Table(title="echo round trips while a worker thread runs Python, per switch interval")
    for column in ("switch interval", "worker thread", "rounds", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for _ in range(args.repeats):
        for interval, busy in ((INTERVALS[0], False), *((interval, True) for interval in INTERVALS)):
            samples = sorted(asyncio.run(measure(interval, busy, args.seconds)))
            table.add_row(
                f"{interval * 1e3:.2f} ms",
                "running Python" if busy else "none (reference)",
                str(len(samples)),
                f"{statistics.median(samples):.2f}",
                f"{samples[min(len(samples) - 1, int(len(samples) * 0.99))]:.2f}",
                f"{samples[-1]:.2f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
