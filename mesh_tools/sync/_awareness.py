"""Awareness payloads (y-protocols): which client ids a peer announced, and their removal.

A payload is ``varUint(n) • n × (varUint clientID • varUint clock • varString JSON state)``; a ``null``
state removes the client. The server relays awareness untouched; it reads the payload only to learn
which client ids a channel announced, so that it can announce their removal when the channel goes away
(y-websocket does the same) instead of leaving ghosts until other peers time them out (30 s).
"""

from __future__ import annotations

from pycrdt import Encoder, create_awareness_message

from ..errors import RemoteProtocolError
from ._frames import read_var_uint

__all__ = ["awareness_clocks", "awareness_removal_message"]

_NULL_STATE = b"null"


def awareness_clocks(message: bytes) -> dict[int, int | None]:
    """Client id → clock from an awareness y-message (checked by ``decode_binary``); None = removed."""
    _, offset = read_var_uint(message, 1, "awareness length")
    count, offset = read_var_uint(message, offset, "awareness entry count")
    clocks: dict[int, int | None] = {}
    for _ in range(count):
        client, offset = read_var_uint(message, offset, "awareness client id")
        clock, offset = read_var_uint(message, offset, "awareness clock")
        length, offset = read_var_uint(message, offset, "awareness state length")
        state = message[offset : offset + length]
        if len(state) != length:
            raise RemoteProtocolError("an awareness state runs past the end of the frame")
        offset += length
        clocks[client] = None if state == _NULL_STATE else clock
    if offset != len(message):
        raise RemoteProtocolError("an awareness payload has bytes after its last entry")
    return clocks


def awareness_removal_message(clocks: dict[int, int]) -> bytes:
    """An awareness y-message that removes these clients (each at its next clock)."""
    encoder = Encoder()
    encoder.write_var_uint(len(clocks))
    for client, clock in clocks.items():
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock + 1)
        encoder.write_var_string("null")
    return create_awareness_message(encoder.to_bytes())
