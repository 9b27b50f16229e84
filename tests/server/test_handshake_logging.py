"""Failed opening handshakes: the client's fault is logged quietly, the server's own failure loudly."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request as HttpRequest

from mesh_tools.server import RoomServer

from ..support import ROOM, MakeToken

HANDSHAKE_FAILED = "opening handshake failed"


@pytest.fixture(autouse=True)
def log_levels(caplog: pytest.LogCaptureFixture) -> None:
    """Capture what the server logs; autouse, so it is set before the server fixture starts."""
    caplog.set_level(logging.INFO, logger="mesh_tools")
    caplog.set_level(logging.DEBUG, logger="websockets.server")  # last: it also sets caplog's handler level


async def _wait_for_record(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    try:
        async with asyncio.timeout(5):
            while True:
                for record in caplog.records:
                    if text in record.getMessage():
                        return record
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"nothing was logged containing {text!r} within 5 s") from None


async def _raw(server: RoomServer, data: bytes, *, abort: bool = False) -> None:
    """Open a TCP connection, write ``data`` (possibly nothing), then hang up (``abort``: reset)."""
    _, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    if data:
        writer.write(data)
        await writer.drain()
    await asyncio.sleep(0.05)
    if abort:
        writer.transport.abort()
    else:
        writer.close()


async def _refused_token(server: RoomServer, token: str) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(f"{server.url}/rooms/{ROOM}", additional_headers={"Authorization": "Bearer x"}):
            pass


async def _plain_http(server: RoomServer, token: str) -> None:
    request = f"GET /rooms/{ROOM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    writer.write(request.encode())
    assert (await reader.readline()).startswith(b"HTTP/1.1 426")
    writer.close()


@pytest.mark.parametrize(
    ("failure", "logged", "level"),
    [
        (lambda server, _: _raw(server, b""), "closed while reading HTTP request line", logging.DEBUG),
        (
            lambda server, _: _raw(server, b"GET /rooms/lab HTTP/1.1\r\n"),
            "reading HTTP headers",
            logging.DEBUG,
        ),
        (
            lambda server, _: _raw(server, b"GET /rooms/lab HTTP/1.1\r\n", abort=True),
            "HTTP headers",
            logging.DEBUG,
        ),
        (lambda server, _: _raw(server, b"HELLO\r\n\r\n"), "invalid HTTP request line", logging.INFO),
        (_plain_http, "missing Connection header", logging.INFO),
        (_refused_token, "connection rejected (401 Unauthorized)", logging.INFO),
    ],
    ids=["connect-and-close", "half-a-request", "reset-mid-request", "garbage", "plain-http", "bad-token"],
)
async def test_handshakes_failed_by_the_client_are_logged_without_an_error_or_traceback(
    server: RoomServer,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[RoomServer, str], Awaitable[None]],
    logged: str,
    level: int,
    make_token: MakeToken,
) -> None:
    await failure(server, make_token())
    record = await _wait_for_record(caplog, logged)
    assert record.levelno == level and record.exc_info is None
    # Whatever else ran on the server, nothing was loud about it.
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    tracebacks = [r for r in caplog.records if r.levelno >= logging.INFO and r.exc_info]
    assert loud == [] and tracebacks == []
    # And the server still serves.
    async with connect(
        f"{server.url}/rooms/{ROOM}", additional_headers={"Authorization": f"Bearer {make_token()}"}
    ) as connection:
        await connection.send('{"id": 1, "type": "sync.list"}')
        assert json.loads(await connection.recv()) == {"id": 1, "result": {"paths": []}}


async def test_a_handshake_that_fails_inside_the_server_is_still_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    def broken(self: RoomServer, connection: object, request: HttpRequest) -> None:
        raise RuntimeError("a bug in the token check")

    monkeypatch.setattr(RoomServer, "_authenticate", broken)
    async with RoomServer(data_dir=tmp_path, secret=secret) as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/rooms/{ROOM}"):
                pass
        assert info.value.response.status_code == 500
        record = await _wait_for_record(caplog, HANDSHAKE_FAILED)
    assert record.levelno == logging.ERROR and record.getMessage() == HANDSHAKE_FAILED
    assert record.exc_info is not None and "a bug in the token check" in str(record.exc_info[1])
