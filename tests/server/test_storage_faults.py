"""Storage faults heal by themselves, are told to clients by cause, and never leak driver text or tokens."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mesh_tools.errors import StorageUnavailableError
from mesh_tools.server import RoomServer, SQLiteStorage
from mesh_tools.server._room_server import DATABASE_NAME
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector, ServeProcess


async def _health(server: RoomServer, path: str = "/healthz/ready") -> tuple[int, dict[str, Any]]:
    """GET a health URL over a plain socket: (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    writer.close()
    return status, json.loads(body)


async def _wait_healthy(server: RoomServer, healthy: bool, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            status, body = await _health(server)
            if (status == 200) == healthy:
                return body
            await asyncio.sleep(0.1)


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root on Linux")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 16, 1 << 10, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_is_reported_by_cause_and_heals_once_space_is_freed(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    with _small_tmpfs(tmp_path / "disk") as disk:
        async with (
            RoomServer(data_dir=disk, secret=secret) as server,
            raw_client(server.url) as client,
        ):
            await client.request("schema.put", name="doc", schema=DOC_SCHEMA.to_json())
            doc = await client.open("full.doc")
            doc.doc.root.append_child("p", {"text": "stored before"})
            await client.request("sync.flush", channel=doc.channel)
            assert await _health(server) == (200, {"live": True, "ready": True, "storage": True, "bus": None})

            filler = _fill(disk)
            for i in range(50):  # enough to need new pages in the log
                doc.doc.root.append_child("p", {"text": f"{i} " + "x" * 2000})
            push = await client.next_push(timeout=10)
            assert push.type == PushType.SYNC_CLOSED and push.fields["channel"] == doc.channel
            error = push.fields["error"]
            assert error["code"] == "storage_unavailable"
            assert "the disk is full" in error["message"]
            assert "sqlite" not in json.dumps(error).lower()
            unhealthy = await _wait_healthy(server, healthy=False)
            assert unhealthy == {"live": True, "ready": False, "storage": False, "bus": None}
            assert (await _health(server, "/healthz/live"))[0] == 200

            filler.unlink()
            # Nobody writes: the server's own probe finds out that storage works again.
            await _wait_healthy(server, healthy=True)
            # The replica still holds the unstored edits and sends them when it reopens.
            reopened = await client.open("full.doc")
            reopened.doc.apply_update(doc.doc.get_update(), origin=None)  # origin None: sent as a local edit
            reopened.doc.root.append_child("p", {"text": "stored after"})
            await client.request("sync.flush", channel=reopened.channel)
            expected = len(reopened.doc)
        async with (
            RoomServer(data_dir=disk, secret=secret) as restarted,
            raw_client(restarted.url) as again,
        ):
            stored = await again.open("full.doc", create=False)
            assert len(stored.doc) == expected == 53
            assert stored.doc.validate() == []


async def test_a_failed_write_heals_by_reopening_the_database(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "s.sqlite3")
    await storage.open()
    try:
        await storage.create_document(ROOM, "e.doc", schema={}, epoch="e", update=b"\x00\x00")
        with sqlite3.connect(storage.path) as db:
            db.execute("DROP TABLE updates")
        with pytest.raises(StorageUnavailableError, match="storage failed") as info:
            await storage.append_update(ROOM, "e.doc", b"\x00\x00")
        assert "updates" not in str(info.value)  # the driver's text stays in the server
        assert storage.problem is not None and storage.problem.code == "storage_unavailable"
        # Not fail-stop: the next batch reopens the database (which recreates what is missing).
        assert await storage.list_documents(ROOM) == ["e.doc"]
        await storage.append_update(ROOM, "e.doc", b"\x00\x00")
        assert storage.problem is None
        stored = await storage.load_document(ROOM, "e.doc")
        assert stored is not None and len(stored.updates) == 2
    finally:
        await storage.close()


async def test_one_database_one_server(tmp_path: Path) -> None:
    first = SQLiteStorage(tmp_path / DATABASE_NAME)
    await first.open()
    try:
        second = SQLiteStorage(tmp_path / DATABASE_NAME)
        with pytest.raises(StorageUnavailableError, match=f"pid {os.getpid()}"):
            await second.open()
    finally:
        await first.close()
    # Closed (or killed: the kernel drops the lock with the process) frees the directory.
    again = SQLiteStorage(tmp_path / DATABASE_NAME)
    await again.open()
    await again.close()


def _serve(data_dir: Path, *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh_tools", "serve", "--port", "0", "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
async def test_a_second_serve_on_one_data_dir_is_refused(tmp_path: Path, secret: str) -> None:
    env = {"MESH_TOOLS_SECRET": secret}
    async with ServeProcess(tmp_path, env=env):
        second = await asyncio.to_thread(_serve, tmp_path, env=env)
    assert second.returncode == 2
    assert "error [storage_unavailable]: another process (pid" in second.stderr
    assert "Traceback" not in second.stderr


@pytest.mark.slow
def test_a_corrupt_database_gets_one_line_and_the_command_to_run(tmp_path: Path, secret: str) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not a database, it only has the name of one" * 100)
    result = _serve(tmp_path, env={"MESH_TOOLS_SECRET": secret})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error [storage_unavailable]: the database ") and "is corrupt" in lines[0]
    assert lines[1].startswith("hint: stop the server and run: sqlite3 ") and ".recover" in lines[1]
    assert shutil.which("sqlite3") is None or "sqlite3" in lines[1]


async def test_tokens_never_reach_the_log(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token()
    async with raw_client(server.url, token=token) as client:
        await client.request("sync.list")
    async with connect(f"{server.url}/rooms/{ROOM}?token={token}") as connection:
        await connection.send(json.dumps({"id": 1, "type": "sync.list"}))
        await connection.recv()
    # The test's own websockets client logs its headers too; the server's records are what count.
    logged = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("websockets.client")
    )
    assert "Authorization: Bearer [redacted]" in logged
    assert "token=[redacted]" in logged
    assert token not in logged and token.split(".")[2] not in logged
