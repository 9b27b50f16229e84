"""Rooms across nodes: cross-node edit-to-visible latency beside one node, fan-out with 1-3 nodes, and the
Redis and PostgreSQL operations each edit costs.

    python bench/cluster.py [--rounds 300] [--clients 30] [--updates 100]

Starts a throwaway Redis and PostgreSQL (scripts/throwaway-service.sh), then `mesh-tools serve`
processes: one on SQLite (the single-node reference, measured in the same run) and three on the shared
PostgreSQL with the Redis bus. The clients are pycrdt replicas in this process (bench/sync_latency.py).

- latency: one client appends an element, the time until another client has it; p50/p99 over
  ``--rounds`` sequential edits: both clients on the SQLite node, both on one cluster node, and on two
  different cluster nodes.
- fan-out: ``--clients`` receivers spread evenly over 1, 2 or 3 cluster nodes, one writer on the first;
  deliveries/s = receivers x updates / time until every receiver has every edit. CPU seconds per
  process say what the run was bound by.
- operations per edit, over the cross-node latency run (sequential edits: no batching) and the 3-node
  fan-out run: Redis commands (INFO commandstats), PostgreSQL commits and inserted rows
  (pg_stat_database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _summary import Topic, add_summary_argument, context, record
from pycrdt import Doc, create_update_message
from rich.console import Console
from rich.table import Table
from sync_latency import (
    SCHEMA,
    WARM_UP_ROUNDS,
    Client,
    children,
    measure_latency,
    python_server,
    wait_for_children,
)

from mesh_tools.document import MeshDocument

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the throwaway services the tests use
from tests.support import ThrowawayService, isolated_postgres_url  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Node:
    process: subprocess.Popen[str]
    url: str


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its direct children (PostgreSQL runs a process per connection)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except (OSError, ValueError):
            continue  # exited meanwhile
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


@dataclass
class Processes:
    """Whose CPU a run used: this process (the clients), the nodes, Redis and PostgreSQL."""

    pids: dict[str, int]

    def sample(self) -> dict[str, float]:
        return {"bench clients": time.process_time()} | {
            name: cpu_seconds(pid) for name, pid in self.pids.items()
        }

    def used_since(self, before: dict[str, float]) -> str:
        after = self.sample()
        return ", ".join(f"{name} {after[name] - before[name]:.2f}" for name in after)


@contextlib.contextmanager
def node_process(*arguments: str) -> Iterator[Node]:
    command = ["-m", "mesh_tools", "serve", "--port", "0", *arguments]
    with python_server(command, name=f"mesh-tools serve {' '.join(arguments)}") as (url, process):
        yield Node(process, url)


# -- measurements ---------------------------------------------------------------------------------------


async def measure_fanout(
    urls: list[str], receivers: int, updates: int, processes: Processes
) -> tuple[float, str]:
    """Deliveries per second, and the CPU seconds each process spent on the edits."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(Client.connect("ours", urls[i % len(urls)], Doc()))
            for i in range(receivers)
        ]
        writer_doc = MeshDocument(schema=SCHEMA)
        outgoing: list[bytes] = []
        writer_doc.on_update(lambda update, origin: outgoing.append(update) if origin is None else None)
        writer = await stack.enter_async_context(Client.connect("ours", urls[0], writer_doc.ydoc))
        await asyncio.gather(*(wait_for_children(client, children(writer.ydoc)) for client in clients))
        target = children(writer.ydoc) + updates
        cpu = processes.sample()
        started = time.perf_counter()
        for i in range(updates):
            writer_doc.root.append_child("p", {"n": i})
            await writer.send(create_update_message(outgoing.pop()))
        await asyncio.gather(*(wait_for_children(client, target) for client in clients))
        elapsed = time.perf_counter() - started
        used = processes.used_since(cpu)
    return receivers * updates / elapsed, f"{elapsed:.2f} s wall; CPU s: {used}"


# -- operation counters ---------------------------------------------------------------------------------


def redis_calls(redis: ThrowawayService) -> dict[str, int]:
    import redis as redis_client

    with redis_client.Redis.from_url(redis.url) as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def postgres_counts(url: str) -> tuple[int, int]:
    """Commits and inserted rows of the database so far (statistics lag: wait for them first)."""
    import psycopg

    time.sleep(1.2)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_stat_force_next_flush()")
        row = db.execute(
            "SELECT xact_commit, tup_inserted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass
class Operations:
    redis: dict[str, int]
    commits: int
    rows: int

    @classmethod
    def read(cls, redis: ThrowawayService, postgres_url: str) -> Operations:
        commits, rows = postgres_counts(postgres_url)
        return cls(redis_calls(redis), commits, rows)

    def per_edit(self, before: Operations, edits: int) -> str:
        # The counter reads themselves (INFO, the statistics query) are not the nodes' work.
        redis = {
            name: (count - before.redis.get(name, 0)) / edits
            for name, count in self.redis.items()
            if name not in ("info",) and count > before.redis.get(name, 0)
        }
        commands = ", ".join(f"{name} {per:.2f}" for name, per in sorted(redis.items(), key=lambda x: -x[1]))
        return (
            f"Redis {sum(redis.values()):.2f} ({commands}); PostgreSQL commits "
            f"{(self.commits - before.commits - 1) / edits:.2f}, rows {(self.rows - before.rows) / edits:.2f}"
        )


# -- the run ------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    redis = ThrowawayService.start_new("redis")
    postgres = ThrowawayService.start_new("postgres")
    console = Console()
    try:
        storage = isolated_postgres_url(postgres)
        cluster = ["--storage", storage, "--bus", redis.url]
        latency: dict[str, tuple[float, float]] = {}
        with tempfile.TemporaryDirectory() as data_dir, node_process("--data-dir", data_dir) as single:
            latency["one node, SQLite (reference)"] = await measure_latency(
                "ours", single.url, single.url, args.rounds
            )
        with node_process(*cluster) as a, node_process(*cluster) as b, node_process(*cluster) as c:
            latency["one cluster node, both clients on it"] = await measure_latency(
                "ours", a.url, a.url, args.rounds
            )
            before = Operations.read(redis, storage)
            latency["cluster, writer and reader on two nodes"] = await measure_latency(
                "ours", a.url, b.url, args.rounds
            )
            sequential = Operations.read(redis, storage).per_edit(before, args.rounds + WARM_UP_ROUNDS)
            rates: dict[int, float] = {}
            cpu: dict[int, str] = {}
            nodes = [a, b, c]
            for count in (1, 2, 3):
                processes = Processes(
                    {f"node {i + 1}": node.process.pid for i, node in enumerate(nodes[:count])}
                    | {"redis": redis.pid(), "postgres": postgres.pid()}
                )
                before = Operations.read(redis, storage)
                rates[count], cpu[count] = await measure_fanout(
                    [n.url for n in nodes[:count]], args.clients, args.updates, processes
                )
                burst = Operations.read(redis, storage).per_edit(before, args.updates)
    finally:
        redis.remove()
        postgres.remove()

    table = Table(title=f"edit -> remote visible, loopback, {os.cpu_count()} CPUs, {args.rounds} edits")
    table.add_column("setup")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, (p50, p99) in latency.items():
        table.add_row(name, f"{p50:.2f}", f"{p99:.2f}")
    console.print(table)
    fanout = Table(title=f"fan-out: {args.clients} receivers spread over the nodes, {args.updates} edits")
    fanout.add_column("cluster nodes")
    fanout.add_column("deliveries/s", justify="right")
    fanout.add_column("edit phase: wall time, CPU seconds per process")
    for count, rate in rates.items():
        fanout.add_row(str(count), f"{rate:,.0f}", cpu[count])
    console.print(fanout)
    print(f"per edit, sequential cross-node edits: {sequential}")
    print(f"per edit, 3-node fan-out burst: {burst}")
    single = "one node, SQLite (reference)"
    record(
        args.summary,
        (
            context(
                Topic.CLUSTER,
                f"edit→visible p99, writer and reader on two nodes, {args.rounds} edits",
                latency["cluster, writer and reader on two nodes"][1],
                latency[single][1],
                unit="ms",
                reference_label="one SQLite node",
            ),
            context(
                Topic.CLUSTER,
                f"fan-out over 3 nodes, {args.clients} receivers x {args.updates} edits",
                rates[3],
                rates[1],
                unit="deliveries/s",
                reference_label="one cluster node",
            ),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--updates", type=int, default=100)
    add_summary_argument(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
