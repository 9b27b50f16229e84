"""The server's URLs and how a refused WebSocket handshake is told to the client.

``/rooms/{room}`` is the multiplexed room socket (docs/protocol.md); ``/rooms/{room}/docs/{path}`` is one
document over plain y-websocket, and without an upgrade the live web page of that document. The path
may be percent-encoded as one segment (y-websocket's ``encodeURIComponent(path)``) or plain.

A refusal is told in one of two ways. Programs get the HTTP status with the error as JSON, which they
can read. Browsers cannot read either (they report close code 1006 and nothing more), and y-websocket
retries a failed handshake forever, so those get the upgrade and then a close with ``4000 + status``
(4401, 4403, 4404, 4400) and a reason ``"<code>: <message>"``; y-websocket stops retrying on 44xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from ..errors import (
    AuthenticationError,
    DocumentNotFoundError,
    InvalidPathError,
    MeshError,
    PermissionDeniedError,
)
from ..sync import REFUSAL_CLOSE_BASE
from ._paths import check_room_name

__all__ = ["MAX_CLOSE_REASON", "Refusal", "Route", "parse_route"]

#: A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455, 5.5).
MAX_CLOSE_REASON = 123
_URL = re.compile(r"/rooms/(?P<room>[^/]+)(?:/|/docs/(?P<path>.+))?")
_STATUS_BY_CODE = {
    AuthenticationError.code: HTTPStatus.UNAUTHORIZED,
    PermissionDeniedError.code: HTTPStatus.FORBIDDEN,
    InvalidPathError.code: HTTPStatus.NOT_FOUND,
    DocumentNotFoundError.code: HTTPStatus.NOT_FOUND,
}


@dataclass(frozen=True, slots=True)
class Route:
    """A room, and for the one-document routes the document's path."""

    room: str
    document: str | None = None


def parse_route(url_path: str) -> Route:
    """The route of a URL path (without its query); InvalidPathError for any other URL."""
    match = _URL.fullmatch(url_path)
    if match is None:
        raise InvalidPathError(
            f"no room at {url_path!r}", hint="connect to /rooms/{room} or /rooms/{room}/docs/{path}"
        )
    room = check_room_name(unquote(match["room"]))
    path = match["path"]
    # The document path is checked by the session's sync.open, whose refusal the client can read.
    return Route(room, None if path is None else unquote(path))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a participant may not connect, as an HTTP status and as a WebSocket close."""

    status: HTTPStatus
    error: MeshError

    @classmethod
    def of(cls, error: MeshError) -> Refusal:
        """The refusal an error means: 401, 403, 404, else 400."""
        return cls(_STATUS_BY_CODE.get(error.code, HTTPStatus.BAD_REQUEST), error)

    @property
    def close_code(self) -> int:
        return REFUSAL_CLOSE_BASE + self.status

    @property
    def close_reason(self) -> str:
        """``"<code>: <message>"``, cut to fit a close frame without splitting a character."""
        reason = f"{self.error.code}: {self.error.message}".encode()
        return reason[:MAX_CLOSE_REASON].decode(errors="ignore")
