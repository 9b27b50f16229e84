"""Our room server in a child process (``mesh-tools serve``) and RoomClients of one room on it.

The benches that measure what a RoomClient sees share these: the server runs in a process of its own
so that its CPU time and memory (``peak_rss``) are its own, not the bench's.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sync_latency import SECRET, python_server  # bench/ is on the path
from websockets.asyncio.client import ClientConnection

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.tokens import ParticipantToken

ROOM = "bench"


@contextlib.contextmanager
def ours_server(data_dir: str, *arguments: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``mesh-tools serve`` on SQLite in ``data_dir`` with ``arguments``: its base URL and process."""
    command = ["-m", "mesh_tools", "serve", "--port", "0", "--data-dir", data_dir, *arguments]
    with python_server(command, name="mesh-tools serve") as started:
        yield started


class CountingProtocol(WebSocketClientProtocol):
    """Counts the connections the client opened: every one after the first is a reconnection, after the
    server dropped it (1013 for a reader too slow to keep up) or the link failed."""

    connections = 0

    async def connect(self) -> ClientConnection:
        connection = await super().connect()
        self.connections += 1
        return connection


def room_client(url: str, name: str = "bench", *, request_timeout: float = 30.0) -> RoomClient:
    token = ParticipantToken.for_room(name=name, room=ROOM).to_jwt(token=SECRET)
    protocol = CountingProtocol(url=websocket_room_url(room_name=ROOM, base_url=url), token=token)
    return RoomClient(protocol=protocol, request_timeout=request_timeout)


def reconnections(client: RoomClient) -> int:
    protocol = client.protocol
    assert isinstance(protocol, CountingProtocol)
    return protocol.connections - 1


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM in Linux's /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
