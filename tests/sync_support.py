"""Shared pieces of the client/server sync tests: a cuttable TCP proxy, tokens, schemas, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mesh_tools.client import RoomClient, SyncedDocument, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.tokens import ParticipantToken

SECRET = "test-secret-0123456789abcdef0123456789"

NOTES = MeshSchema(
    root_tag_name="notes",
    elements=[
        ElementType(tag_name="notes", properties=[ChildProperty(name="items", child_tag_names=["note"])]),
        ElementType(
            tag_name="note",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="n", type="integer")],
        ),
    ],
)


def token(room: str, name: str = "tester", *, secret: str = SECRET) -> str:
    return ParticipantToken.for_room(name=name, room=room).to_jwt(token=secret)


def room_client(base_url: str, room: str, name: str = "tester", **options: float) -> RoomClient:
    url = websocket_room_url(room_name=room, base_url=base_url)
    return RoomClient(protocol=WebSocketClientProtocol(url=url, token=token(room, name)), **options)


def texts(document: SyncedDocument) -> list[str]:
    return [str(note.get_attribute("text")) for note in document.root.get_children()]


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until ``condition()`` holds; a generous ceiling only turns a hang into a failure."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


@dataclass
class Run:
    code: int
    out: str
    err: str


async def run_process(*args: str, env: dict[str, str]) -> Run:
    """Run ``python *args`` to completion with extra environment variables, without blocking the loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


class TcpProxy:
    """A TCP relay between clients and a server that a test can cut, stall or point elsewhere.

    ``drop()`` kills every relayed connection (both sides see a reset), ``stall()`` stops relaying
    server-to-client bytes (the client reads nothing, like a frozen peer) and ``offline`` refuses new
    connections, like a server that is down.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.offline = False
        self.connections = 0
        self.bytes_to_server = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def drop(self) -> None:
        for client, upstream in list(self._pairs):
            client.transport.abort()
            upstream.transport.abort()
        self._pairs.clear()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.offline:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(source, sink, upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, upstream: bool) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await source.read(65536):
                if upstream:
                    self.bytes_to_server += len(data)
                else:
                    await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()


class ServeProcess:
    """``mesh-tools serve`` in a subprocess, for tests that kill or restart a real server process."""

    def __init__(
        self, data_dir: Path, *, env: dict[str, str], port: int = 0, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.args = list(args)
        self.port = port
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ServeProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> str:
        """Start (again, on the same port once one was picked) and return the server's URL."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mesh_tools",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        async with asyncio.timeout(20):
            self.url = (await self._process.stdout.readline()).decode().strip()
        assert self.url.startswith("ws://"), f"mesh-tools serve printed {self.url!r}"
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
        if self._process is not None:
            await self._process.wait()
