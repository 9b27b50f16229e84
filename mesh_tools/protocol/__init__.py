"""The sans-I/O wire protocol of the room server (docs/protocol.md): message types, encode and decode.

Nothing here touches a socket: the server and the client feed frames in and get frames out.
"""

from .awareness import awareness_clocks, awareness_removal_message
from .frames import (
    MAX_CHANNEL,
    SyncMessage,
    decode_binary,
    encode_binary,
    parse_sync_message,
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
    "MAX_CHANNEL",
    "Message",
    "Push",
    "PushType",
    "Request",
    "RequestType",
    "Response",
    "SyncMessage",
    "awareness_clocks",
    "awareness_removal_message",
    "decode_binary",
    "decode_text",
    "encode_binary",
    "encode_text",
    "parse_sync_message",
    "read_var_uint",
    "sync_step2_message",
]
