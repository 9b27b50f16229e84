"""The live web page of a document: ``GET /rooms/{room}/docs/{path}`` without a WebSocket upgrade.

The page is static: the participant token travels in the URL *fragment* (``#token=<jwt>``), which
browsers never send to the server, so it stays out of request logs; the page's script reads it and
joins the room over the multiplexed WebSocket like any client (js/web/page.js, bundled with yjs by
``scripts/install-test-deps.sh`` into ``mesh_tools/web/static/``, which git ignores). Its assets are
served under ``/_mesh/``.
"""

from __future__ import annotations

import html
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from ..errors import InvalidPathError
from ._routes import parse_route

__all__ = ["ASSET_URL", "page_url", "web_response"]

#: Where the page's script and style sheet are served.
ASSET_URL = "/_mesh/"
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_ASSETS = {
    "page.js": (WEB_DIR / "static" / "page.js", "text/javascript; charset=utf-8"),
    "page.css": (WEB_DIR / "page.css", "text/css; charset=utf-8"),
}
# Scripts and styles from this server only; the page talks to this server's WebSockets only.
_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src data:; base-uri 'none'; frame-ancestors 'none'"
)
_MISSING_BUNDLE = (
    "This server has no built web page script (mesh_tools/web/static/page.js): "
    "run `make deps` (or `cd js && npm ci && npm run build`) where mesh-tools is installed from source."
)


def page_url(base_url: str, room: str, path: str, token: str) -> str:
    """The page of a document on a server at ``ws://HOST:PORT``, with the token in the fragment."""
    http_base = "http" + base_url.removeprefix("ws") if base_url.startswith("ws") else base_url
    return f"{http_base}/rooms/{quote(room, safe='')}/docs/{quote(path, safe='/')}#token={token}"


def web_response(request: HttpRequest) -> HttpResponse | None:
    """The page or one of its assets for a plain HTTP GET; None if the URL is neither."""
    url_path = urlsplit(request.path).path
    if url_path.startswith(ASSET_URL):
        return _asset(url_path.removeprefix(ASSET_URL))
    try:
        route = parse_route(url_path)
    except InvalidPathError:
        return None
    if route.document is None:
        return None
    return _page(route.room, route.document)


def _page(room: str, path: str) -> HttpResponse:
    template = (WEB_DIR / "page.html").read_text(encoding="utf-8")
    missing = ""
    if not _ASSETS["page.js"][0].is_file():
        missing = f'<p class="error">{html.escape(_MISSING_BUNDLE)}</p>'
    body = (
        template.replace("{{room}}", html.escape(room))
        .replace("{{path}}", html.escape(path))
        .replace("{{assets}}", ASSET_URL)
        .replace("{{missing}}", missing)
    )
    return _response(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8")


def _asset(name: str) -> HttpResponse:
    asset = _ASSETS.get(name)
    if asset is None or not asset[0].is_file():
        return _response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
    return _response(HTTPStatus.OK, asset[0].read_bytes(), asset[1])


def _response(status: HTTPStatus, body: bytes, content_type: str) -> HttpResponse:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", _POLICY),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ]
    )
    return HttpResponse(status.value, status.phrase, headers, body)
