"""The WebSocket link to one room: where it is, how to authenticate, and what a failed connect means."""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from ..errors import (
    AuthenticationError,
    ConnectionLostError,
    HandshakeRefusedError,
    MeshError,
    PermissionDeniedError,
    error_from_dict,
)

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "WebSocketClientProtocol"]

#: A full-state SyncStep2 of a large document arrives in one frame; 1 MiB (websockets' default) is too small.
DEFAULT_MAX_MESSAGE_SIZE = 64 * 2**20

_SERVE_HINT = "is `mesh-tools serve` running there? Set --url or MESH_TOOLS_URL to the server's address"


class WebSocketClientProtocol:
    """How a :class:`RoomClient` reaches its room: ``url`` (``.../rooms/{room}``) and a participant token.

    Build the URL with :func:`mesh_tools.helpers.websocket_room_url`. The token travels in the
    ``Authorization: Bearer`` header, never in the URL, so it stays out of proxy and server logs.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        open_timeout: float = 10.0,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        parts = urlsplit(url)
        _, _, room = parts.path.rpartition("/rooms/")
        if parts.scheme not in ("ws", "wss") or not parts.netloc or not room or "/" in room:
            raise ValueError(
                f"{url!r} is not a room URL of the form ws://HOST:PORT/rooms/ROOM; "
                "build it with mesh_tools.helpers.websocket_room_url(room_name=...)"
            )
        if not token:
            raise ValueError("token must not be empty")
        self.url = url
        self.token = token
        self.room_name = unquote(room)
        self.open_timeout = open_timeout
        self.max_message_size = max_message_size

    def __repr__(self) -> str:
        return f"WebSocketClientProtocol(url={self.url!r})"

    async def connect(self) -> ClientConnection:
        """Open the WebSocket.

        Raises AuthenticationError (401) or PermissionDeniedError (403), which retrying cannot fix, and
        ConnectionLostError for everything that may pass: refused, reset, timed out, 5xx.
        """
        try:
            return await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=self.open_timeout,
                max_size=self.max_message_size,
                # Sync updates are small and compress poorly; deflate would cost CPU on both ends.
                compression=None,
            )
        except InvalidStatus as exc:
            raise _status_error(self.url, exc) from exc
        except InvalidURI as exc:
            raise ValueError(str(exc)) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ConnectionLostError(f"cannot connect to {self.url}: {exc}", hint=_SERVE_HINT) from exc


def _status_error(url: str, exc: InvalidStatus) -> MeshError:
    status = exc.response.status_code
    body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
    try:
        # A mesh-tools server explains a refusal with the error as JSON: {"code", "message", "hint"}.
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        error = error_from_dict(data)
        message, hint = error.message, error.hint
    else:
        try:
            message = body[:300] or HTTPStatus(status).phrase
        except ValueError:
            message = ""
        hint = None
    text = f"{url} refused the connection: HTTP {status} {message}".rstrip()
    if status == HTTPStatus.UNAUTHORIZED:
        return AuthenticationError(
            text, hint=hint or "check the token: MESH_TOOLS_TOKEN, or MESH_TOOLS_SECRET set to the server's"
        )
    if status == HTTPStatus.FORBIDDEN:
        return PermissionDeniedError(text, hint=hint or "the token needs a room grant for this room")
    if status >= 500:
        return ConnectionLostError(text, hint="the server failed; the client retries")
    return HandshakeRefusedError(text, hint=hint or _SERVE_HINT)
