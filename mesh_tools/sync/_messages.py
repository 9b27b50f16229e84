"""Text frames: JSON control messages (requests, responses and server pushes), see docs/protocol.md.

A request is ``{"id": int, "type": str, **params}``; a response repeats the ``id`` and carries either
``result`` (an object) or ``error`` (``{"code", "message", "hint"}``); a push has a ``type`` and no ``id``.
Decoding never trusts its input: anything that is not one of these shapes raises :class:`ProtocolError`.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypeAlias, TypedDict, TypeVar

from ..errors import MeshError, RemoteProtocolError, error_from_dict

__all__ = [
    "ChannelParams",
    "ClosedPush",
    "CreateParams",
    "CreateResult",
    "DescribeResult",
    "ErrorPush",
    "ListResult",
    "Message",
    "OpenParams",
    "OpenResult",
    "PathParams",
    "Push",
    "PushType",
    "RejectedPush",
    "Request",
    "RequestType",
    "Response",
    "SchemaListResult",
    "SchemaPutParams",
    "SyncParams",
    "SyncResult",
    "ViolationBody",
    "decode_text",
    "encode_result",
    "encode_result_response",
    "encode_text",
    "read_field",
    "read_open_result",
    "violation_body",
]

_T = TypeVar("_T")

#: Request ids are JSON integers; keep them inside the range every JSON implementation reads exactly.
_MAX_ID = 2**53 - 1


class RequestType(StrEnum):
    """The request types the room server answers."""

    SYNC_CREATE = "sync.create"
    SYNC_DESCRIBE = "sync.describe"
    SYNC_OPEN = "sync.open"
    SYNC_CLOSE = "sync.close"
    SYNC_FLUSH = "sync.flush"
    SYNC_SYNC = "sync.sync"
    SYNC_LIST = "sync.list"
    SCHEMA_PUT = "schema.put"
    SCHEMA_LIST = "schema.list"


class PushType(StrEnum):
    """The messages the server sends without being asked."""

    SYNC_REJECTED = "sync.rejected"
    SYNC_CLOSED = "sync.closed"
    ERROR = "error"


# -- the shapes of the fields each message type carries (docs/protocol.md) -----------------------------


class ViolationBody(TypedDict):
    """A schema violation the server mended."""

    code: str
    message: str
    element_id: str | None


def violation_body(code: str, message: str, element_id: str | None) -> ViolationBody:
    """A violation as it travels in ``sync.rejected`` and the ``sync.sync`` result."""
    return ViolationBody(code=code, message=message, element_id=element_id)


class CreateParams(TypedDict):
    """``sync.create``: a document with optional content (document JSON) and schema."""

    path: str
    json: dict[str, Any] | None
    schema: dict[str, Any] | None


class PathParams(TypedDict):
    """``sync.describe``: the document to read."""

    path: str


class OpenParams(TypedDict):
    """``sync.open``: the document, and whether to create it when it does not exist."""

    path: str
    create: bool


class ChannelParams(TypedDict):
    """``sync.flush`` and ``sync.close``: the channel ``sync.open`` answered with."""

    channel: int


class SyncParams(TypedDict):
    """``sync.sync``: a y-update, base64-encoded."""

    path: str
    data: str


class SchemaPutParams(TypedDict):
    """``schema.put``: store a schema as ``.schemas/<name>.json``."""

    name: str
    schema: dict[str, Any]


class CreateResult(TypedDict):
    path: str


class DescribeResult(TypedDict):
    path: str
    json: dict[str, Any]


class OpenResult(TypedDict):
    """The channel of an opened document; the server's frames on it follow this answer."""

    channel: int
    schema: dict[str, Any]
    #: The storage generation of the document (docs/adr/0003-reconnect-and-resync.md).
    epoch: str | None
    #: The participant may only read: the server refuses its updates.
    read_only: bool


class SyncResult(TypedDict):
    violations: list[ViolationBody]


class ListResult(TypedDict):
    paths: list[str]


class SchemaListResult(TypedDict):
    names: list[str]


class RejectedPush(TypedDict):
    """``sync.rejected``: an update on ``channel`` broke the schema; the server mended it."""

    channel: int
    violations: list[ViolationBody]


class ClosedPush(TypedDict):
    """``sync.closed``: the server stopped syncing ``channel`` for the reason in ``error``."""

    channel: int
    #: The error as :meth:`MeshError.to_dict` writes it: ``code``, ``message`` and maybe ``hint``.
    error: dict[str, str]


class ErrorPush(TypedDict):
    """``error``: a frame (on ``channel``, when it had one) was refused; the connection stays."""

    #: The error as :meth:`MeshError.to_dict` writes it: ``code``, ``message`` and maybe ``hint``.
    error: dict[str, str]
    channel: NotRequired[int]


# -- envelopes -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """A client request; ``params`` are the message's fields besides ``id`` and ``type``.

    The ``type`` is kept as sent so a server can answer an unknown type with an error that names it.
    """

    id: int
    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, kind: builtins.type[_T]) -> _T:
        """Parameter ``name`` checked to be a ``kind``; ProtocolError if it is absent, null or mistyped."""
        value = self.params.get(name)
        if value is None:
            raise RemoteProtocolError(f"{self.type} needs the parameter {name!r}")
        # bool is an int subclass in Python, not in JSON.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RemoteProtocolError(
                f"{self.type}: parameter {name!r} must be {_json_kind(kind)}, got {_json_kind(type(value))}"
            )
        return value

    def get_optional(self, name: str, kind: builtins.type[_T]) -> _T | None:
        """Parameter ``name`` checked to be a ``kind``, or None when it is absent or null."""
        if self.params.get(name) is None:
            return None
        return self.get(name, kind)


@dataclass(frozen=True, slots=True)
class Response:
    """The one answer to the request with the same ``id``: a ``result`` object or an ``error``."""

    id: int
    result: dict[str, Any] | None = None
    error: MeshError | None = None

    def __post_init__(self) -> None:
        if (self.result is None) == (self.error is None):
            raise ValueError("a Response carries exactly one of result and error")


@dataclass(frozen=True, slots=True)
class Push:
    """A server message that answers no request (``sync.rejected``, ``sync.closed``, ``error``)."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)


Message: TypeAlias = Request | Response | Push


def encode_text(message: Message) -> str:
    """The JSON text frame for a message."""
    data: dict[str, Any]
    if isinstance(message, Request):
        data = {"id": message.id, "type": message.type, **message.params}
    elif isinstance(message, Response):
        if message.result is not None:
            return encode_result_response(message.id, encode_result(message.result))
        assert message.error is not None
        data = {"id": message.id, "error": message.error.to_dict()}
    else:
        data = {"type": message.type, **message.fields}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def encode_result(result: Mapping[str, Any]) -> str:
    """A response's result as JSON text: a big one is encoded once, off the event loop (in the room
    server's worker process), and sent to every request that asks for it with
    :func:`encode_result_response`."""
    return json.dumps(result, separators=(",", ":"), ensure_ascii=False)


def encode_result_response(request_id: int, result: str) -> str:
    """The text frame of ``Response(request_id, result=...)`` from the result's JSON text."""
    return f'{{"id":{request_id:d},"result":{result}}}'


def decode_text(text: str | bytes) -> Message:
    """Parse a text frame into a Request, Response or Push; ProtocolError for anything else."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and undecodable bytes; deep nesting exhausts the parser.
        raise RemoteProtocolError("a text frame must be one JSON object", hint=str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise RemoteProtocolError(f"a text frame must be a JSON object, got {_json_kind(type(data))}")
    if "id" not in data:
        kind = data.pop("type", None)
        if not isinstance(kind, str):
            raise RemoteProtocolError("a message without an id must be a push with a string 'type'")
        return Push(kind, data)
    message_id = data.pop("id")
    if isinstance(message_id, bool) or not isinstance(message_id, int) or not 0 <= message_id <= _MAX_ID:
        raise RemoteProtocolError(f"'id' must be an integer from 0 to 2**53-1, got {message_id!r:.50}")
    if "type" in data:
        kind = data.pop("type")
        if not isinstance(kind, str):
            raise RemoteProtocolError("'type' must be a string")
        return Request(message_id, kind, data)
    if "error" in data:
        error = data["error"]
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise RemoteProtocolError("'error' must be an object with a string 'code'")
        return Response(message_id, error=error_from_dict(error))
    result = data.get("result")
    if not isinstance(result, dict):
        raise RemoteProtocolError("a response needs a 'result' object or an 'error' object")
    return Response(message_id, result=result)


def read_field(data: dict[str, Any], name: str, kind: builtins.type[_T]) -> _T:
    """``data[name]`` of a peer's message checked to be a ``kind``; ProtocolError (naming it) otherwise."""
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RemoteProtocolError(
            f"the server's answer has no valid {name!r} ({kind.__name__} expected, got {value!r:.60})",
            hint="the server and client versions may not match",
        )
    return value


def read_open_result(result: dict[str, Any]) -> OpenResult:
    """The ``sync.open`` answer, every field checked."""
    epoch = result.get("epoch")
    return OpenResult(
        channel=read_field(result, "channel", int),
        schema=read_field(result, "schema", dict),
        epoch=epoch if isinstance(epoch, str) else None,
        read_only=read_field(result, "read_only", bool),
    )


def _json_kind(kind: type[Any]) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", dict: "an object"}
    names |= {list: "an array", type(None): "null"}
    return names.get(kind, kind.__name__)
