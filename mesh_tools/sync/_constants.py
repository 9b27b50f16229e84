"""The numbers both ends of a room connection must agree on (docs/protocol.md), defined once."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AUTH_MESSAGE",
    "EMPTY_UPDATE",
    "FIRST_CHANNEL",
    "MAX_CHANNEL",
    "PERMISSION_DENIED",
    "QUERY_AWARENESS",
    "REFUSAL_CLOSE_BASE",
    "CloseCode",
]

#: Channels travel as varUint; stay inside what a JavaScript client reads exactly.
MAX_CHANNEL = 2**53 - 1
#: The server numbers a connection's channels from here, in the order it opens them.
FIRST_CHANNEL = 1
#: The y-update that changes nothing: a read-only Step2, and what an idle transaction encodes to.
EMPTY_UPDATE = b"\x00\x00"
#: y-protocols message types pycrdt has no name for: the server's refusal of a write (``messageAuth``,
#: sub-type 0 = permission denied) and a peer asking for every awareness state (``messageQueryAwareness``).
AUTH_MESSAGE = 2
PERMISSION_DENIED = 0
QUERY_AWARENESS = 3
#: A handshake refused with HTTP status S is told to browsers as close code ``4000 + S`` (4401, 4403, ...).
REFUSAL_CLOSE_BASE = 4000


class CloseCode(IntEnum):
    """WebSocket close codes the room server sends and the client acts on."""

    #: More bad frames in a row than the server tolerates.
    POLICY_VIOLATION = 1008
    #: A frame larger than the server's ``max_message_size``.
    MESSAGE_TOO_BIG = 1009
    #: The server shuts down gracefully; reconnect.
    SERVICE_RESTART = 1012
    #: The participant read too slowly and its send queue overflowed; reconnect and resync.
    TRY_AGAIN_LATER = 1013
    #: The participant's token expired during the session; reconnecting needs a new token.
    TOKEN_EXPIRED = 4401
