"""The live web page and the handshake rules for browsers: what GET answers, origins, close codes."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mesh_tools.server import RoomServer, page_url
from mesh_tools.server._web_page import WEB_DIR

from ..support import ROOM, MakeToken


@pytest.fixture
async def server(tmp_path: Path, secret: str) -> AsyncIterator[RoomServer]:
    """A server that admits browsers from http://good.example only."""
    async with RoomServer(
        data_dir=tmp_path, secret=secret, allowed_origins=["http://good.example"]
    ) as running:
        yield running


def http_url(server: RoomServer, path: str) -> str:
    return server.url.replace("ws://", "http://") + path


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    def fetch() -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    return await asyncio.to_thread(fetch)


async def test_the_page_is_served_without_a_token_and_escapes_what_the_url_says(server: RoomServer) -> None:
    status, headers, body = await get(http_url(server, f"/rooms/{ROOM}/docs/notes/%3Cb%3E.doc"))
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'self' covers scripts
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    page = body.decode()
    assert 'data-path="notes/&lt;b&gt;.doc"' in page and "<b>.doc" not in page
    assert '<script type="module" src="/_mesh/page.js"></script>' in page
    bundle_built = (WEB_DIR / "static" / "page.js").is_file()
    assert ("make deps" in page) is not bundle_built


async def test_assets_and_unknown_urls(server: RoomServer) -> None:
    status, headers, body = await get(http_url(server, "/_mesh/page.css"))
    assert (status, headers["Content-Type"]) == (200, "text/css; charset=utf-8")
    assert body == (WEB_DIR / "page.css").read_bytes()
    assert (await get(http_url(server, "/_mesh/../page.html")))[0] == 404
    assert (await get(http_url(server, "/_mesh/rooms.sqlite3")))[0] == 404
    # A room URL without a document is not a page.
    assert (await get(http_url(server, f"/rooms/{ROOM}")))[0] in (401, 426)


def test_page_url_carries_the_token_in_the_fragment() -> None:
    url = page_url("ws://127.0.0.1:8765", "demo", "reports/a b.report", "TOKEN")
    assert url == "http://127.0.0.1:8765/rooms/demo/docs/reports/a%20b.report#token=TOKEN"
    assert page_url("wss://mesh.example", "demo", "x.doc", "T").startswith("https://mesh.example/rooms/")


async def close_of(url: str, **options: object) -> tuple[int | None, str | None]:
    async with connect(url, **options) as connection:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(connection.recv(), 5)
    return connection.close_code, connection.close_reason


async def test_browsers_read_refusals_as_close_codes_programs_as_statuses(
    server: RoomServer, make_token: MakeToken
) -> None:
    room_url = f"{server.url}/rooms/{ROOM}"
    # A browser (Origin) on the multiplexed route: upgrade, then 4401 with the error code.
    code, reason = await close_of(room_url, origin="http://good.example")
    assert code == 4401 and reason == "unauthorized: no participant token"
    # The token in the URL, as browsers send it: the same.
    code, reason = await close_of(f"{room_url}?token={make_token(room='elsewhere')}")
    assert (
        code == 4403 and reason is not None and reason.startswith("forbidden: the token does not grant room")
    )
    # A program with a header keeps the HTTP status and the JSON body.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(room_url, additional_headers={"Authorization": "Bearer nope"}):
            pass
    assert refused.value.response.status_code == 401


async def test_allowed_origins_limit_browsers_only(server: RoomServer, make_token: MakeToken) -> None:
    url = f"{server.url}/rooms/{ROOM}?token={make_token()}"
    code, reason = await close_of(url, origin="http://evil.example")
    assert code == 4403 and reason is not None and "http://evil.example" in reason
    async with connect(url, origin="http://good.example") as allowed:
        await allowed.send('{"id": 1, "type": "sync.list"}')
        assert await asyncio.wait_for(allowed.recv(), 5) == '{"id":1,"result":{"paths":[]}}'
    async with connect(url) as program:  # no Origin: not a browser, not concerned
        await program.send('{"id": 1, "type": "sync.list"}')
        assert "result" in await asyncio.wait_for(program.recv(), 5)
