"""Binary frames: ``varUint(channel) • y-message``, the y-message exactly as y-protocols encodes it.

The y-protocols encoding itself comes from pycrdt (``create_sync_message``, ``create_update_message``,
``write_message``); this module adds the channel prefix and checks a frame completely before
anyone acts on it, so that decoding arbitrary bytes raises :class:`ProtocolError` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import YMessageType, YSyncMessageType, write_message, write_var_uint

from ..errors import RemoteProtocolError
from ._constants import AUTH_MESSAGE, MAX_CHANNEL, PERMISSION_DENIED, QUERY_AWARENESS

__all__ = [
    "SyncMessage",
    "decode_binary",
    "encode_binary",
    "parse_sync_message",
    "permission_denied_message",
    "read_var_uint",
    "sync_step2_frame",
    "sync_step2_message",
]

_MAX_VARUINT_BYTES = 8  # 8 × 7 bits = 56 bits, enough for 2**53
_STEP2 = bytes([YMessageType.SYNC, YSyncMessageType.SYNC_STEP2])


def encode_binary(channel: int, message: bytes) -> bytes:
    """Prefix a y-message with its channel."""
    if not 0 <= channel <= MAX_CHANNEL:
        raise ValueError(f"channel {channel} is outside 0..2**53-1")
    return write_var_uint(channel) + message


def decode_binary(frame: bytes) -> tuple[int, bytes]:
    """Split a frame into its channel and its y-message, after checking the y-message is well formed.

    Accepted y-messages are sync (Step1, Step2, Update) and awareness, each with exactly one
    length-prefixed payload, and QueryAwareness (the lone type byte); anything else raises ProtocolError.
    """
    channel, offset = read_var_uint(frame, 0, "channel")
    message = bytes(frame[offset:])
    if not message:
        raise RemoteProtocolError(f"binary frame for channel {channel} has no y-message")
    if message[0] == YMessageType.SYNC:
        _payload_start(message, 2, _sync_kind(message).name.lower())
    elif message[0] == YMessageType.AWARENESS:
        _payload_start(message, 1, "awareness")
    elif message[0] == QUERY_AWARENESS:
        if len(message) != 1:
            raise RemoteProtocolError("a QueryAwareness message carries no payload")
    else:
        raise RemoteProtocolError(
            f"unknown y-message type {message[0]}",
            hint="send sync (0), awareness (1) or QueryAwareness (3) messages",
        )
    return channel, message


@dataclass(frozen=True, slots=True)
class SyncMessage:
    """A y-sync message: Step1 carries a state vector, Step2 and Update carry an update."""

    kind: YSyncMessageType
    payload: bytes


def parse_sync_message(message: bytes) -> SyncMessage:
    """Read a y-sync message (first byte 0); ProtocolError if it is anything else or malformed."""
    kind = _sync_kind(message)
    return SyncMessage(kind, message[_payload_start(message, 2, kind.name.lower()) :])


def sync_step2_message(update: bytes) -> bytes:
    """A SyncStep2 y-message (pycrdt builds it only inside ``handle_sync_message``)."""
    return b"".join((_STEP2, write_var_uint(len(update)), update))


def sync_step2_frame(channel: int, update: bytes) -> bytes:
    """``encode_binary(channel, sync_step2_message(update))`` with one copy of ``update``, not two: the
    whole state of a big document is megabytes, and each copy holds the GIL for milliseconds."""
    return b"".join((write_var_uint(channel), _STEP2, write_var_uint(len(update)), update))


def permission_denied_message(reason: str) -> bytes:
    """The y-protocols auth message that tells a client its write was refused (y-websocket logs it)."""
    return bytes([AUTH_MESSAGE, PERMISSION_DENIED]) + write_message(reason.encode())


def _sync_kind(message: bytes) -> YSyncMessageType:
    if len(message) < 2 or message[0] != YMessageType.SYNC:
        raise RemoteProtocolError("not a y-sync message")
    try:
        return YSyncMessageType(message[1])
    except ValueError:
        raise RemoteProtocolError(
            f"unknown y-sync message type {message[1]}", hint="0 = Step1, 1 = Step2, 2 = Update"
        ) from None


def _payload_start(message: bytes, offset: int, what: str) -> int:
    """Where the one length-prefixed payload at ``offset`` starts; it must run to the end."""
    length, start = read_var_uint(message, offset, f"{what} length")
    if start + length != len(message):
        raise RemoteProtocolError(
            f"{what} payload declares {length} bytes but the frame holds {len(message) - start}",
            hint="send exactly one length-prefixed payload per frame",
        )
    return start


def read_var_uint(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """The varUint at ``offset`` and the offset after it; ProtocolError (naming ``what``) if malformed."""
    # Decoded here rather than by pycrdt's Decoder: it indexes past the end on truncated input, has no
    # length cap, and costs an object and a copy per number (every frame's channel, every state vector).
    value = 0
    shift = 0
    end = offset
    while True:
        if end >= len(data):
            raise RemoteProtocolError(f"truncated varUint ({what})")
        if end - offset >= _MAX_VARUINT_BYTES:
            raise RemoteProtocolError(f"varUint too long ({what})")
        byte = data[end]
        value |= (byte & 0x7F) << shift
        end += 1
        if byte < 0x80:
            break
        shift += 7
    if value > MAX_CHANNEL:
        raise RemoteProtocolError(f"varUint {value} exceeds 2**53-1 ({what})")
    return value, end
