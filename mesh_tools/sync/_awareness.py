"""Awareness payloads (y-protocols): the entries a peer announced, their removal, and re-encoding them.

A payload is ``varUint(n) • n × (varUint clientID • varUint clock • varString JSON state)``; a ``null``
state removes the client. The server keeps the last entry per client (``mesh_tools.server``'s presence)
so a joiner sees everyone at once, and announces the removal of a channel's clients when the channel
goes away (y-websocket does the same) instead of leaving ghosts until other peers time them out (30 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import Encoder, create_awareness_message

from ..errors import RemoteProtocolError
from ._frames import read_var_uint

__all__ = [
    "NULL_STATE",
    "AwarenessEntry",
    "awareness_clocks",
    "awareness_removal_message",
    "decode_awareness",
    "encode_awareness",
]

#: The state text that removes a client.
NULL_STATE = "null"


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's announcement: its clock and its state as JSON text (relayed untouched)."""

    client: int
    clock: int
    state: str


def decode_awareness(message: bytes) -> list[AwarenessEntry]:
    """The entries of an awareness y-message (checked by ``decode_binary``); ProtocolError if malformed."""
    _, offset = read_var_uint(message, 1, "awareness length")
    count, offset = read_var_uint(message, offset, "awareness entry count")
    entries: list[AwarenessEntry] = []
    for _ in range(count):
        client, offset = read_var_uint(message, offset, "awareness client id")
        clock, offset = read_var_uint(message, offset, "awareness clock")
        length, offset = read_var_uint(message, offset, "awareness state length")
        raw = message[offset : offset + length]
        if len(raw) != length:
            raise RemoteProtocolError("an awareness state runs past the end of the frame")
        offset += length
        try:
            state = bytes(raw).decode()
        except UnicodeDecodeError:
            raise RemoteProtocolError("an awareness state is not UTF-8 text") from None
        entries.append(AwarenessEntry(client, clock, state))
    if offset != len(message):
        raise RemoteProtocolError("an awareness payload has bytes after its last entry")
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    """An awareness y-message carrying ``entries``."""
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for entry in entries:
        encoder.write_var_uint(entry.client)
        encoder.write_var_uint(entry.clock)
        encoder.write_var_string(entry.state)
    return create_awareness_message(encoder.to_bytes())


def awareness_clocks(message: bytes) -> dict[int, int | None]:
    """Client id → clock from an awareness y-message; None = removed."""
    return {e.client: None if e.state == NULL_STATE else e.clock for e in decode_awareness(message)}


def awareness_removal_message(clocks: dict[int, int]) -> bytes:
    """An awareness y-message that removes these clients.

    Each at the clock it last announced, as y-websocket's server does: peers drop a state on a null at
    an equal clock, and a client that comes back announces itself at a higher one.
    """
    return encode_awareness([AwarenessEntry(client, clock, NULL_STATE) for client, clock in clocks.items()])
