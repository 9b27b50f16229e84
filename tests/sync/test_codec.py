"""The sans-I/O codec: round trips, pycrdt compatibility, and fuzzing (only ProtocolError escapes)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import (
    Awareness,
    Doc,
    Text,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from mesh_tools.errors import InvalidPathError, MeshError, ProtocolError
from mesh_tools.sync import (
    Push,
    PushType,
    Request,
    RequestType,
    Response,
    awareness_clocks,
    awareness_removal_message,
    decode_binary,
    decode_text,
    encode_binary,
    encode_result,
    encode_result_response,
    encode_text,
    parse_sync_message,
    sync_step2_message,
)
from mesh_tools.sync._frames import sync_step2_frame


def test_request_round_trip() -> None:
    request = Request(7, RequestType.SYNC_OPEN, {"path": "a/b.document", "create": True})
    decoded = decode_text(encode_text(request))
    assert decoded == Request(7, "sync.open", {"path": "a/b.document", "create": True})


def test_response_round_trips_result_and_typed_error() -> None:
    assert decode_text(encode_text(Response(3, result={"channel": 1}))) == Response(3, result={"channel": 1})
    decoded = decode_text(encode_text(Response(4, error=InvalidPathError("bad", hint="relative"))))
    assert isinstance(decoded, Response)
    assert isinstance(decoded.error, InvalidPathError)
    assert (decoded.error.message, decoded.error.hint) == ("bad", "relative")


def test_push_round_trip() -> None:
    push = Push(PushType.SYNC_REJECTED, {"channel": 2, "violations": []})
    assert decode_text(encode_text(push)) == Push("sync.rejected", {"channel": 2, "violations": []})


def test_response_needs_exactly_one_of_result_and_error() -> None:
    with pytest.raises(ValueError):
        Response(1)
    with pytest.raises(ValueError):
        Response(1, result={}, error=MeshError("x"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[1]",
        "nope",
        '{"id": true, "type": "sync.list"}',
        '{"id": -1, "type": "sync.list"}',
        '{"id": 1.5, "type": "sync.list"}',
        '{"id": 1, "type": 3}',
        '{"id": 1}',
        '{"id": 1, "error": "boom"}',
        '{"id": 1, "result": []}',
        '{"channel": 1}',
        "[" * 100_000,
    ],
)
def test_malformed_text_frames_raise_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_text(text)


def test_request_parameters_are_type_checked() -> None:
    request = Request(1, "sync.open", {"path": "x.doc", "create": 1, "n": True})
    assert request.get("path", str) == "x.doc"
    assert request.get_optional("missing", bool) is None
    with pytest.raises(ProtocolError, match="'create' must be a boolean"):
        request.get("create", bool)
    with pytest.raises(ProtocolError, match="'n' must be an integer"):
        request.get("n", int)
    with pytest.raises(ProtocolError, match="needs the parameter 'missing'"):
        request.get("missing", str)


def test_binary_frames_wrap_pycrdt_messages() -> None:
    doc: Doc = Doc()
    doc["t"] = text = Text()
    text += "hello"
    step1 = create_sync_message(doc)
    channel, message = decode_binary(encode_binary(300, step1))
    assert (channel, message) == (300, step1)
    assert parse_sync_message(message).kind is YSyncMessageType.SYNC_STEP1
    assert parse_sync_message(message).payload == doc.get_state()

    update = doc.get_update()
    parsed = parse_sync_message(decode_binary(encode_binary(1, create_update_message(update)))[1])
    assert (parsed.kind, parsed.payload) == (YSyncMessageType.SYNC_UPDATE, update)

    # Our Step2 is what pycrdt's own handler produces as the answer to a Step1.
    other: Doc = Doc()
    assert handle_sync_message(create_sync_message(other)[1:], doc) == sync_step2_message(update)
    handle_sync_message(sync_step2_message(update)[1:], other)
    assert str(other.get("t", type=Text)) == "hello"


def test_awareness_frames_pass() -> None:
    message = bytes([1, 3, 1, 2, 3])
    assert decode_binary(encode_binary(2, message)) == (2, message)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x80",  # truncated channel
        b"\xff" * 9 + b"\x01",  # channel varUint too long
        b"\x01",  # no y-message
        b"\x01\x02\x00",  # unknown y-message type (auth)
        b"\x01\x00",  # sync without subtype
        b"\x01\x00\x07\x00",  # unknown sync subtype
        b"\x01\x00\x02\x05ab",  # payload shorter than declared
        b"\x01\x00\x02\x01ab",  # trailing bytes
        b"\x01\x01",  # awareness without payload
    ],
)
def test_malformed_binary_frames_raise_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_binary(frame)


def test_encode_binary_refuses_out_of_range_channels() -> None:
    with pytest.raises(ValueError):
        encode_binary(-1, b"\x00\x00\x00")
    with pytest.raises(ValueError):
        encode_binary(2**53, b"\x00\x00\x00")


@given(st.binary(max_size=64))
def test_fuzz_binary_raises_only_protocol_error(frame: bytes) -> None:
    try:
        channel, message = decode_binary(frame)
    except ProtocolError:
        return
    assert frame.endswith(message) and channel >= 0


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.text(max_size=80) | _json_values.map(json.dumps))
def test_fuzz_text_raises_only_protocol_error(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        decode_text(text)


@given(
    st.fixed_dictionaries(
        {"id": st.integers(0, 2**53 - 1), "type": st.text(max_size=12)},
        optional={"path": st.text(max_size=12), "create": st.booleans()},
    )
)
def test_fuzz_requests_round_trip(data: dict[str, object]) -> None:
    decoded = decode_text(json.dumps(data))
    assert isinstance(decoded, Request)
    assert decode_text(encode_text(decoded)) == decoded


def test_awareness_clocks_read_pycrdt_payloads_and_removal_round_trips() -> None:
    doc: Doc = Doc()
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "ada"}})
    message = create_awareness_message(awareness.encode_awareness_update([doc.client_id]))
    assert decode_binary(encode_binary(1, message)) == (1, message)
    clocks = awareness_clocks(message)
    assert list(clocks) == [doc.client_id]
    removal = awareness_removal_message({doc.client_id: clocks[doc.client_id] or 0})
    observer = Awareness(Doc())
    observer.apply_awareness_update(message[2:], "peer")  # payload after type and length (< 128 bytes)
    assert doc.client_id in observer.states
    observer.apply_awareness_update(removal[2:], "peer")
    assert doc.client_id not in observer.states
    assert awareness_clocks(removal) == {doc.client_id: None}


@pytest.mark.parametrize(
    "message",
    [bytes([1, 1, 2]), bytes([1, 4, 1, 5, 1, 9]), bytes([1, 6, 1, 5, 1, 1, 0x6E, 0])],
)
def test_malformed_awareness_payloads_raise_protocol_error(message: bytes) -> None:
    with pytest.raises(ProtocolError):
        awareness_clocks(message)


@given(st.integers(0, 2**53 - 1), st.dictionaries(st.text(max_size=6), _json_values, max_size=4))
def test_results_encoded_once_are_the_responses_encode_text_writes(
    request_id: int, result: dict[str, object]
) -> None:
    expected = encode_text(Response(request_id, result=result))
    assert encode_result_response(request_id, encode_result(result)) == expected


@given(st.integers(0, 2**53 - 1), st.binary(max_size=600))
def test_a_step2_frame_is_the_framed_step2_message(channel: int, update: bytes) -> None:
    assert sync_step2_frame(channel, update) == encode_binary(channel, sync_step2_message(update))
    assert parse_sync_message(decode_binary(sync_step2_frame(channel, update))[1]).payload == update
