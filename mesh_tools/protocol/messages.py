"""Text frames: JSON control messages (requests, responses and server pushes), see docs/protocol.md.

A request is ``{"id": int, "type": str, **params}``; a response repeats the ``id`` and carries either
``result`` (an object) or ``error`` (``{"code", "message", "hint"}``); a push has a ``type`` and no ``id``.
Decoding never trusts its input: anything that is not one of these shapes raises :class:`ProtocolError`.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from ..errors import MeshError, ProtocolError, error_from_dict

__all__ = [
    "Message",
    "Push",
    "PushType",
    "Request",
    "RequestType",
    "Response",
    "decode_text",
    "encode_text",
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
            raise ProtocolError(f"{self.type} needs the parameter {name!r}")
        # bool is an int subclass in Python, not in JSON.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(
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
        data = {"id": message.id}
        if message.error is not None:
            data["error"] = message.error.to_dict()
        else:
            data["result"] = message.result
    else:
        data = {"type": message.type, **message.fields}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_text(text: str | bytes) -> Message:
    """Parse a text frame into a Request, Response or Push; ProtocolError for anything else."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and undecodable bytes; deep nesting exhausts the parser.
        raise ProtocolError("a text frame must be one JSON object", hint=str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise ProtocolError(f"a text frame must be a JSON object, got {_json_kind(type(data))}")
    if "id" not in data:
        kind = data.pop("type", None)
        if not isinstance(kind, str):
            raise ProtocolError("a message without an id must be a push with a string 'type'")
        return Push(kind, data)
    message_id = data.pop("id")
    if isinstance(message_id, bool) or not isinstance(message_id, int) or not 0 <= message_id <= _MAX_ID:
        raise ProtocolError(f"'id' must be an integer from 0 to 2**53-1, got {message_id!r:.50}")
    if "type" in data:
        kind = data.pop("type")
        if not isinstance(kind, str):
            raise ProtocolError("'type' must be a string")
        return Request(message_id, kind, data)
    if "error" in data:
        error = data["error"]
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ProtocolError("'error' must be an object with a string 'code'")
        return Response(message_id, error=error_from_dict(error))
    result = data.get("result")
    if not isinstance(result, dict):
        raise ProtocolError("a response needs a 'result' object or an 'error' object")
    return Response(message_id, result=result)


def _json_kind(kind: type[Any]) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", dict: "an object"}
    names |= {list: "an array", type(None): "null"}
    return names.get(kind, kind.__name__)
