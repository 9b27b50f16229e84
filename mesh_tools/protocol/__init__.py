"""The sans-I/O wire protocol of the room server (docs/protocol.md): message types, encode and decode.

Nothing here touches a socket: the server and the client feed frames in and get frames out.
"""

from .awareness import (
    NULL_STATE,
    AwarenessEntry,
    awareness_clocks,
    awareness_removal_message,
    decode_awareness,
    encode_awareness,
)
from .frames import (
    AUTH,
    MAX_CHANNEL,
    PERMISSION_DENIED,
    QUERY_AWARENESS,
    SyncMessage,
    decode_binary,
    encode_binary,
    parse_sync_message,
    permission_denied_message,
    read_var_uint,
    sync_step2_message,
)
from .messages import (
    Message,
    Push,
    PushType,
    Request,
    RequestType,
    Response,
    decode_text,
    encode_text,
)

__all__ = [
    "AUTH",
    "MAX_CHANNEL",
    "NULL_STATE",
    "PERMISSION_DENIED",
    "QUERY_AWARENESS",
    "AwarenessEntry",
    "Message",
    "Push",
    "PushType",
    "Request",
    "RequestType",
    "Response",
    "SyncMessage",
    "awareness_clocks",
    "awareness_removal_message",
    "decode_awareness",
    "decode_binary",
    "decode_text",
    "encode_awareness",
    "encode_binary",
    "encode_text",
    "parse_sync_message",
    "permission_denied_message",
    "read_var_uint",
    "sync_step2_message",
]
