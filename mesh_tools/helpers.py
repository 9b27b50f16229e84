"""Where the room server is: base URL and room URLs, read from the environment like MeshAgent's helpers.

``MESH_TOOLS_URL`` names the server (default ``ws://127.0.0.1:8765``, what ``mesh-tools serve`` listens
on). ``http``/``https`` base URLs are accepted and turned into ``ws``/``wss``.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "mesh_tools_base_url",
    "meshagent_base_url",
    "websocket_room_url",
]

#: Environment variable holding the server's base URL.
URL_ENV = "MESH_TOOLS_URL"
#: Where ``mesh-tools serve`` listens by default.
DEFAULT_URL = "ws://127.0.0.1:8765"

_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def mesh_tools_base_url() -> str:
    """The server's base URL: ``$MESH_TOOLS_URL`` or ``ws://127.0.0.1:8765``, without a trailing slash."""
    return (os.getenv(URL_ENV) or DEFAULT_URL).rstrip("/")


#: MeshAgent's name, so programs written for its SDK run with only their imports changed.
meshagent_base_url = mesh_tools_base_url


def websocket_room_url(*, room_name: str, base_url: str | None = None) -> str:
    """The WebSocket URL of a room: ``{base}/rooms/{room_name}``, the room name percent-encoded."""
    if not room_name:
        raise ValueError("room_name must not be empty")
    parts = urlsplit((base_url or mesh_tools_base_url()).rstrip("/"))
    scheme = _WS_SCHEMES.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(
            f"{base_url or mesh_tools_base_url()!r} is not a ws://, wss://, http:// or https:// URL"
        )
    path = f"{parts.path}/rooms/{quote(room_name, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, "", ""))
