"""Presence on an open document: who each participant is and which element it works on.

Presence is y-protocols awareness, so Yjs clients (y-websocket, the web page, the JavaScript client)
show mesh-tools participants and the other way round. Every mesh-tools client publishes
``{"user": {"name", "role"}, "element": id | None}``: the name and role come from the participant's
token, ``element`` from :meth:`SyncedDocument.focus` (the document tools set it for agents).
"""

from __future__ import annotations

from typing import Any, TypedDict

import jwt
from pycrdt import Awareness, create_awareness_message, read_message

__all__ = ["PresenceUser", "apply_awareness_message", "local_awareness_message", "participant_identity"]


class PresenceUser(TypedDict):
    """Who a participant is, as its presence says."""

    name: str
    role: str


def participant_identity(token: str) -> PresenceUser:
    """The name and role a participant token carries (the server verified it; this only reads it)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {"name": "anonymous", "role": "user"}
    grants = claims.get("grants")
    roles = [
        grant.get("scope")
        for grant in (grants if isinstance(grants, list) else [])
        if isinstance(grant, dict) and grant.get("name") == "role"
    ]
    name = claims.get("name", claims.get("sub"))
    role = roles[0] if roles and isinstance(roles[0], str) else "user"
    return {"name": name if isinstance(name, str) else "anonymous", "role": role}


def local_awareness_message(awareness: Awareness) -> bytes:
    """The awareness y-message that announces this client's current state."""
    return create_awareness_message(awareness.encode_awareness_update([awareness.client_id]))


def apply_awareness_message(awareness: Awareness, message: bytes, *, origin: str) -> None:
    """Apply an awareness y-message (type byte, then the length-prefixed update) from the server."""
    awareness.apply_awareness_update(read_message(message[1:]), origin)
