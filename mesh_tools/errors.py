"""One error hierarchy for the whole package, shared by schema, document, server, client and tools.

Every error has a stable machine-readable ``code`` (what programs and models branch on), a
``message`` that says what was wrong, and an optional ``hint`` that says what would be allowed or
what to do next. Errors cross the wire as ``{"code", "message", "hint"}`` and are rebuilt into the
same class on the other side by :func:`error_from_dict`.

Groups callers can catch: :class:`TransportError` (the link failed, timed out or refused the connection:
retrying may help), :class:`ProtocolError` (split into :class:`RemoteProtocolError`, the peer broke the
protocol, and :class:`LocalProtocolError`, the peer says we did), :class:`DocumentError` (an edit that
does not fit the schema), and :class:`DocumentReplacedError` (the server's copy was replaced; reopen it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AgentConfigError",
    "AuthenticationError",
    "ChildNotAllowedError",
    "ConnectionLostError",
    "DocumentError",
    "DocumentExistsError",
    "DocumentLimitError",
    "DocumentNotFoundError",
    "DocumentReplacedError",
    "EditConflictError",
    "ElementNotFoundError",
    "HandshakeRefusedError",
    "InvalidOperationError",
    "InvalidPathError",
    "InvalidValueError",
    "LocalProtocolError",
    "MeshError",
    "ModelCallError",
    "PermissionDeniedError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeoutError",
    "ReservedAttributeError",
    "RoomServerException",
    "SchemaError",
    "ServerError",
    "StorageUnavailableError",
    "TransportError",
    "UnknownAttributeError",
    "UnknownTagError",
    "UpdateRefusedError",
    "error_from_dict",
]

_BY_CODE: dict[str, type[MeshError]] = {}


class MeshError(Exception):
    """Base of every error mesh-tools raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _BY_CODE.setdefault(cls.code, cls)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        """The error as it travels on the wire and as tools report it to a model."""
        data = {"code": self.code, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        return data


#: MeshAgent's name for the base of the errors a room request can raise; kept so seed code runs.
RoomServerException = MeshError


class SchemaError(MeshError):
    """A schema definition or schema file is invalid."""

    code = "invalid_schema"


class DocumentError(MeshError):
    """An edit or a document does not fit its schema; the document was left unchanged."""

    code = "invalid_document"


class UnknownTagError(DocumentError):
    code = "unknown_tag"


class ChildNotAllowedError(DocumentError):
    code = "child_not_allowed"


class UnknownAttributeError(DocumentError):
    code = "unknown_attribute"


class InvalidValueError(DocumentError):
    code = "invalid_value"


class ReservedAttributeError(DocumentError):
    code = "reserved_attribute"


class ElementNotFoundError(DocumentError):
    code = "not_found"


class UpdateRefusedError(DocumentError):
    """An incoming CRDT update that would break the document layout beyond repair; nothing applied."""

    code = "update_refused"


class DocumentLimitError(DocumentError):
    """An edit would take the document past its configured depth or size limit."""

    code = "document_too_large"


class TextNotAllowedError(DocumentError):
    """Text on an element whose type declares none."""

    code = "text_not_allowed"


class MarkNotAllowedError(DocumentError):
    """A formatting mark the element's text does not allow, or a mark with the wrong attributes."""

    code = "mark_not_allowed"


class SnippetNotFoundError(DocumentError):
    """A text edit anchored on a snippet that the text does not contain."""

    code = "snippet_not_found"


class AmbiguousSnippetError(DocumentError):
    """A text edit anchored on a snippet that occurs more than once."""

    code = "ambiguous_snippet"


class EditConflictError(DocumentError):
    """An edit made on a stale read: another participant changed the element since the given version."""

    code = "conflict"


class InvalidOperationError(DocumentError):
    """A well-formed edit that cannot apply here, such as deleting the root."""

    code = "invalid_operation"


class ProtocolError(MeshError):
    """A frame or message that does not follow the wire protocol; catch the group, raise a side."""

    code = "protocol_error"


class RemoteProtocolError(ProtocolError):
    """The peer sent a frame or message that does not follow the wire protocol.

    Raised where a frame is read; the server reports it back to the client as ``protocol_error``.
    """


class LocalProtocolError(ProtocolError):
    """The peer reported (``protocol_error``) that a frame or message we sent breaks the protocol."""


class AuthenticationError(MeshError):
    """The token is missing, malformed, badly signed, expired or signed with an unknown key."""

    code = "unauthorized"


class PermissionDeniedError(MeshError):
    """The token is valid but does not grant this room, path or operation."""

    code = "forbidden"


class InvalidPathError(MeshError):
    """A document path that is absolute, escapes the room (``..``) or has forbidden characters."""

    code = "invalid_path"


class DocumentNotFoundError(MeshError):
    code = "document_not_found"


class DocumentReplacedError(DocumentNotFoundError):
    """The server's copy of an open document was replaced (a new epoch): this replica cannot merge into it.

    A kind of DocumentNotFoundError: the document this replica descends from is gone.
    """

    code = "document_replaced"


class DocumentExistsError(MeshError):
    code = "document_exists"


class TransportError(MeshError):
    """The link to the server failed: unreachable, dropped, too slow, or the handshake was refused."""

    code = "transport_error"


class RequestTimeoutError(TransportError):
    """The server did not answer a request in time."""

    code = "timeout"


class ConnectionLostError(TransportError):
    """The connection closed while a request was pending; the request may or may not have applied."""

    code = "disconnected"


class HandshakeRefusedError(TransportError):
    """The server answered the WebSocket handshake with an HTTP error other than 401, 403 or 5xx."""

    code = "handshake_refused"


class ServerError(MeshError):
    """The server failed in a way that is not the caller's fault."""

    code = "internal_error"


class StorageUnavailableError(ServerError):
    """The server cannot reach its database right now, so it refuses what it could not make durable.

    It reconnects by itself; the same request, or reopening the document, works again once it has.
    """

    code = "storage_unavailable"


class AgentConfigError(MeshError):
    """An agent definition, prompt template or agent loop setting is invalid; nothing was run."""

    code = "invalid_agent_config"


class ModelCallError(MeshError):
    """The model API refused a request or stayed unavailable after every retry."""

    code = "model_call_failed"


# A peer that reports a protocol_error says the frame *we* sent broke the protocol.
_BY_CODE[ProtocolError.code] = LocalProtocolError


def error_from_dict(data: Mapping[str, Any]) -> MeshError:
    """Rebuild an error received as ``{"code", "message", "hint"}``; unknown codes give a MeshError."""
    code = str(data.get("code", "error"))
    cls = _BY_CODE.get(code, MeshError)
    error = cls(str(data.get("message", code)), hint=data.get("hint"))
    if cls is MeshError and code != MeshError.code:
        # Keep a code this version does not know, so callers can still branch on it.
        error.code = code  # type: ignore[misc]
    return error
