"""The error groups callers catch, and the wire codes other participants rely on."""

from __future__ import annotations

import pytest

from mesh_tools.errors import (
    AmbiguousSnippetError,
    AuthenticationError,
    ConnectionLostError,
    DocumentNotFoundError,
    DocumentReplacedError,
    HandshakeRefusedError,
    LocalProtocolError,
    MarkNotAllowedError,
    MeshError,
    PermissionDeniedError,
    ProtocolError,
    RemoteProtocolError,
    RequestTimeoutError,
    RoomServerException,
    SnippetNotFoundError,
    TextNotAllowedError,
    TransportError,
    error_from_dict,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConnectionLostError, "disconnected"),
        (RequestTimeoutError, "timeout"),
        (ProtocolError, "protocol_error"),
        (RemoteProtocolError, "protocol_error"),
        (LocalProtocolError, "protocol_error"),
        (DocumentNotFoundError, "document_not_found"),
        (AuthenticationError, "unauthorized"),
        (PermissionDeniedError, "forbidden"),
        (HandshakeRefusedError, "handshake_refused"),
        (DocumentReplacedError, "document_replaced"),
        (TextNotAllowedError, "text_not_allowed"),
        (MarkNotAllowedError, "mark_not_allowed"),
        (SnippetNotFoundError, "snippet_not_found"),
        (AmbiguousSnippetError, "ambiguous_snippet"),
    ],
)
def test_wire_codes_stay_stable(error: type[MeshError], code: str) -> None:
    assert error.code == code


def test_transport_failures_share_one_group() -> None:
    for error in (ConnectionLostError, RequestTimeoutError, HandshakeRefusedError):
        assert issubclass(error, TransportError)
    assert not issubclass(AuthenticationError, TransportError), "retrying cannot fix a refused token"
    assert RoomServerException is MeshError


def test_a_reported_protocol_error_is_ours_and_one_we_raise_is_the_peers() -> None:
    raised = RemoteProtocolError("bad frame", hint="send JSON")
    received = error_from_dict(raised.to_dict())
    assert type(received) is LocalProtocolError
    assert (received.code, received.message, received.hint) == ("protocol_error", "bad frame", "send JSON")
    assert isinstance(received, ProtocolError) and isinstance(raised, ProtocolError)


def test_a_replaced_document_is_a_kind_of_missing_document() -> None:
    error = error_from_dict(DocumentReplacedError("gone", hint="reopen").to_dict())
    assert isinstance(error, DocumentReplacedError) and isinstance(error, DocumentNotFoundError)
