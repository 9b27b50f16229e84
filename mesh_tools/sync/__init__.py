"""The sans-I/O sync core of the room protocol (docs/protocol.md, docs/adr/0007-sans-io-sync-core.md).

Nothing here touches a socket or an event loop. It holds what both ends of a room connection must agree
on, defined once: the codec (binary frames, JSON text frames), the constants (close codes, channel
numbers, the empty update), the typed wire messages, and the per-document channel state machines: the
server end (:class:`ServerChannel`) and the client end (:class:`ClientChannel`, with the delivery
accounting ``flush`` relies on). The asyncio shells in ``mesh_tools.server`` and ``mesh_tools.client``
feed frames in and write the frames these hand out.
"""

from ._awareness import awareness_clocks, awareness_removal_message
from ._client_channel import FROM_SERVER, ClientChannel, ClientReplica, Outgoing, Received
from ._constants import EMPTY_UPDATE, FIRST_CHANNEL, MAX_CHANNEL, CloseCode
from ._frames import (
    SyncMessage,
    decode_binary,
    encode_binary,
    parse_sync_message,
    read_var_uint,
    sync_step2_message,
)
from ._handshake import Replica, sync_step1, sync_step2
from ._messages import (
    ChannelParams,
    ClosedPush,
    CreateParams,
    CreateResult,
    DescribeResult,
    ErrorPush,
    ListResult,
    Message,
    OpenParams,
    OpenResult,
    PathParams,
    Push,
    PushType,
    RejectedPush,
    Request,
    RequestType,
    Response,
    SchemaListResult,
    SchemaPutParams,
    SyncParams,
    SyncResult,
    ViolationBody,
    decode_text,
    encode_text,
    read_field,
    read_open_result,
    violation_body,
)
from ._server_channel import Inbound, ServerChannel

__all__ = [
    "EMPTY_UPDATE",
    "FIRST_CHANNEL",
    "FROM_SERVER",
    "MAX_CHANNEL",
    "ChannelParams",
    "ClientChannel",
    "ClientReplica",
    "CloseCode",
    "ClosedPush",
    "CreateParams",
    "CreateResult",
    "DescribeResult",
    "ErrorPush",
    "Inbound",
    "ListResult",
    "Message",
    "OpenParams",
    "OpenResult",
    "Outgoing",
    "PathParams",
    "Push",
    "PushType",
    "Received",
    "RejectedPush",
    "Replica",
    "Request",
    "RequestType",
    "Response",
    "SchemaListResult",
    "SchemaPutParams",
    "ServerChannel",
    "SyncMessage",
    "SyncParams",
    "SyncResult",
    "ViolationBody",
    "awareness_clocks",
    "awareness_removal_message",
    "decode_binary",
    "decode_text",
    "encode_binary",
    "encode_text",
    "parse_sync_message",
    "read_field",
    "read_open_result",
    "read_var_uint",
    "sync_step1",
    "sync_step2",
    "sync_step2_message",
    "violation_body",
]
