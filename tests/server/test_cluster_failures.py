"""Three `mesh-tools serve` nodes under a seeded fuzzer: SIGKILLs, dropped connections, roaming clients.

Participants keep their replicas across connections, as mesh_tools.client does: when their node dies
or their connection drops, they connect to another node, open the document again and send their
whole state (the resync of ADR 0003). Whatever a participant saw acknowledged by ``sync.flush`` must
be in storage at the end, once; and every replica must converge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pycrdt import create_update_message

from mesh_tools.document import MeshDocument
from mesh_tools.server import PostgresStorage, RoomServer

from ..support import DOC_SCHEMA, RawClient, RawConnector, RawDocument

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PATH = "fuzz.doc"


@dataclass
class Node:
    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, secret: str, storage: str, bus: str, log: Path) -> Node:
        env = {
            **os.environ,
            "MESH_TOOLS_SECRET": secret,
            "MESH_TOOLS_STORAGE": storage,
            "MESH_TOOLS_BUS": bus,
        }
        command = [sys.executable, "-m", "mesh_tools", "serve", "--port", "0"]
        with log.open("a") as stderr:
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), log.read_text()
        return cls(process, url)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class Participant:
    """A client whose replica outlives its connections."""

    name: str
    connector: RawConnector
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    client: RawClient | None = None
    document: RawDocument | None = None
    node: Node | None = None
    written: int = 0
    flushed: set[str] = field(default_factory=set)

    async def connect(self, node: Node) -> None:
        await self.drop()
        previous = self.document.doc.get_update() if self.document is not None else None
        self.client = await self.stack.enter_async_context(self.connector(node.url))
        self.document = await self.client.open(PATH)
        self.node = node
        if previous is not None:
            # The resync: the server lacks what this replica wrote while it was away.
            self.document.doc.apply_update(previous)
            await self.client.send_frame(self.document.channel, create_update_message(previous))

    async def drop(self) -> None:
        await self.stack.aclose()
        self.client = None

    def write(self, count: int) -> list[str]:
        assert self.document is not None
        texts = [f"{self.name}-{self.written + i}" for i in range(count)]
        for text in texts:
            self.document.doc.root.append_child("p", {"text": text})
        self.written += count
        return texts

    async def flush(self) -> None:
        assert self.client is not None and self.document is not None
        everything = set(_texts(self.document.doc))
        await self.client.request("sync.flush", channel=self.document.channel)
        self.flushed |= everything


def _texts(doc: MeshDocument) -> list[str]:
    children = doc.to_json()["doc"].get("children", [])
    return [child["p"]["text"] for child in children]


async def test_nodes_killed_mid_burst_lose_nothing_flushed(
    postgres_url: str, redis_url: str, tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    rng = random.Random(1511)
    log = tmp_path / "nodes.log"

    def start_node() -> asyncio.Future[Node]:
        return asyncio.ensure_future(asyncio.to_thread(Node.start, secret, postgres_url, redis_url, log))

    nodes = list(await asyncio.gather(*(start_node() for _ in range(3))))
    # A killed node's replacement starts in the background while its clients move to the others.
    replacements: list[asyncio.Future[Node]] = []
    kills = 0
    participants = [Participant(f"u{i}", raw_client) for i in range(6)]
    try:
        async with raw_client(nodes[0].url) as admin:
            await admin.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
            await admin.request("sync.create", path=PATH)
        for i, participant in enumerate(participants):
            await participant.connect(nodes[i % 3])
        for step in range(16):
            nodes += [replacement.result() for replacement in replacements if replacement.done()]
            replacements = [replacement for replacement in replacements if not replacement.done()]
            # Three kills at fixed steps, so every run has them; the rest is drawn.
            action = "kill" if step in (3, 8, 13) else rng.choice(["burst", "burst", "flush", "drop"])
            if action == "kill" and len(nodes) < 2:
                nodes.append(await replacements.pop(0))  # clients need a node to move to
            if action == "burst":
                for participant in rng.sample(participants, 3):
                    participant.write(rng.randint(1, 15))
            elif action == "flush":
                await rng.choice(participants).flush()
            elif action == "drop":
                participant = rng.choice(participants)
                await participant.connect(rng.choice(nodes))
            else:
                # Mid-burst: some participants are still sending when their node dies.
                for participant in rng.sample(participants, 3):
                    participant.write(rng.randint(5, 20))
                victim = nodes.pop(rng.randrange(len(nodes)))
                victim.kill()
                kills += 1
                replacements.append(start_node())
                for participant in participants:
                    if participant.node is not None and participant.node.process.returncode is not None:
                        await participant.connect(rng.choice(nodes))
        for participant in participants:
            await participant.flush()

        def converged() -> bool:
            states = {tuple(sorted(_texts(p.document.doc))) for p in participants if p.document is not None}
            return len(states) == 1

        async with asyncio.timeout(20):
            while not converged():
                await asyncio.sleep(0.05)
    finally:
        for participant in participants:
            await participant.drop()
        for node in [*nodes, *await asyncio.gather(*replacements)]:
            node.kill()
    assert kills == 3
    flushed = set().union(*(p.flushed for p in participants))
    written = sum(p.written for p in participants)
    assert len(flushed) == written  # the final flushes covered every edit
    # A fresh node reads storage alone: every flushed edit is there, each exactly once.
    async with (
        RoomServer(storage=PostgresStorage(postgres_url), secret=secret) as server,
        raw_client(server.url) as reader,
    ):
        stored = _texts((await reader.open(PATH, create=False)).doc)
    assert sorted(stored) == sorted(flushed)
    assert len(stored) == len(set(stored))
