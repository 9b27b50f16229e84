"""The link to a room: URLs, the connect step and what a refused handshake becomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http import HTTPStatus

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from mesh_tools.client import WebSocketClientProtocol
from mesh_tools.errors import (
    AuthenticationError,
    ConnectionLostError,
    HandshakeRefusedError,
    PermissionDeniedError,
)
from mesh_tools.helpers import mesh_tools_base_url, meshagent_base_url, websocket_room_url

# -- URLs ------------------------------------------------------------------------------------------


def test_base_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESH_TOOLS_URL", raising=False)
    assert mesh_tools_base_url() == "ws://127.0.0.1:8765"
    monkeypatch.setenv("MESH_TOOLS_URL", "https://mesh.example.com/base/")
    assert meshagent_base_url() == "https://mesh.example.com/base"
    assert websocket_room_url(room_name="my room") == "wss://mesh.example.com/base/rooms/my%20room"


def test_room_url_round_trips_the_room_name() -> None:
    url = websocket_room_url(room_name="a/b c", base_url="http://127.0.0.1:9")
    assert url == "ws://127.0.0.1:9/rooms/a%2Fb%20c"
    assert WebSocketClientProtocol(url=url, token="t").room_name == "a/b c"


@pytest.mark.parametrize("url", ["http://127.0.0.1/rooms/r", "ws://127.0.0.1/r", "ws://127.0.0.1/rooms/"])
def test_protocol_rejects_urls_that_name_no_room(url: str) -> None:
    with pytest.raises(ValueError, match="websocket_room_url"):
        WebSocketClientProtocol(url=url, token="t")


def test_room_url_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="ftp"):
        websocket_room_url(room_name="r", base_url="ftp://example.com")


# -- connecting --------------------------------------------------------------------------------------


@pytest.fixture
async def gatekeeper() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A WebSocket server that answers the handshake with the status named by the room."""
    seen: list[str | None] = []

    def process_request(connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        seen.append(request.headers.get("Authorization"))
        status = int(request.path.rsplit("/", 1)[-1])
        if status == 101:
            return None
        return connection.respond(HTTPStatus(status), f"status {status} from the test\n")

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", seen


async def test_connect_sends_the_token_as_a_bearer_header(gatekeeper: tuple[str, list[str | None]]) -> None:
    base, seen = gatekeeper
    connection = await WebSocketClientProtocol(url=f"{base}/rooms/101", token="secret-jwt").connect()
    await connection.close()
    assert seen == ["Bearer secret-jwt"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (503, ConnectionLostError),
        (404, HandshakeRefusedError),
    ],
)
async def test_refused_handshakes_become_typed_errors(
    gatekeeper: tuple[str, list[str | None]], status: int, error: type[Exception]
) -> None:
    base, _ = gatekeeper
    with pytest.raises(error, match=f"HTTP {status} status {status} from the test"):
        await WebSocketClientProtocol(url=f"{base}/rooms/{status}", token="t").connect()


async def test_unreachable_server_says_what_to_do() -> None:
    # Bind and close a socket to get a port nobody listens on.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionLostError) as caught:
        await WebSocketClientProtocol(url=f"ws://127.0.0.1:{port}/rooms/r", token="t").connect()
    assert f"cannot connect to ws://127.0.0.1:{port}/rooms/r" in caught.value.message
    assert "mesh-tools serve" in (caught.value.hint or "")
