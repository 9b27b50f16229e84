"""Cut a big Yjs v1 update into pieces that, applied in order, amount to it.

pycrdt applies an update in one call that holds the GIL from start to end: a 60k-element document's
state took 180-250 ms of CPU, during which no other thread of the process ran, the event loop
included. Applied as pieces of a few thousand structs, each call takes a few milliseconds and other
threads run between them; the total stays the same (measured: 91 pieces of 60k elements, the worst
3.6 ms, the sum no higher than one call).

In v1 every struct is written on its own (its origins, or its parent, in full), so a client's run of
structs can be cut anywhere between two structs: a piece is ``1 client • n structs • client • clock of
the first • their bytes as they are`` with an empty delete set, and the last piece is the delete set
alone. An item whose origin lies in a later piece waits in Yjs's pending store until that piece is
applied, as it would for updates arriving in any order.

Where to cut (:func:`plan_cuts`) is read struct by struct in Python, ~2 us a struct; the room server's
worker process, which reads a big update anyway, plans there, and the server only cuts (:func:`cut`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pycrdt import Encoder

from ._yjs_update import UpdateFormatError, _Reader

__all__ = ["Cut", "cut", "plan_cuts", "split_update"]

_NO_STRUCTS = b"\x00"
_NO_DELETES = b"\x00"


@dataclass(frozen=True, slots=True)
class Cut:
    """One piece: ``head``, then the update's bytes from ``start`` to ``end``, then ``tail``."""

    head: bytes
    start: int
    end: int
    tail: bytes = b""


def split_update(update: bytes, structs_per_piece: int) -> list[bytes]:
    """``update`` as pieces of at most ``structs_per_piece`` structs each, then its delete set.

    Raises UpdateFormatError if it is not a v1 update.
    """
    return cut(update, plan_cuts(update, structs_per_piece))


def cut(update: bytes, cuts: list[Cut]) -> list[bytes]:
    """The pieces ``cuts`` describe (:func:`plan_cuts` of this very update)."""
    view = memoryview(update)
    return [b"".join((piece.head, view[piece.start : piece.end], piece.tail)) for piece in cuts]


def plan_cuts(update: bytes, structs_per_piece: int) -> list[Cut]:
    """Where :func:`split_update` cuts ``update``. Raises UpdateFormatError if it is not a v1 update."""
    reader = _Reader(update)
    pieces: list[Cut] = []
    try:
        for _ in range(reader.uint()):
            count = reader.uint()
            client_start = reader.offset
            client = reader.uint()
            encoded_client = update[client_start : reader.offset]
            clock = reader.uint()
            for first in range(0, count, structs_per_piece):
                start, start_clock = reader.offset, clock
                size = min(structs_per_piece, count - first)
                for _ in range(size):
                    clock += reader.struct_length(encoded_client)
                head = Encoder()
                for value in (1, size, client, start_clock):
                    head.write_var_uint(value)
                pieces.append(Cut(head.to_bytes(), start, reader.offset, _NO_DELETES))
        deletes = reader.offset
        reader.delete_set()
    except (IndexError, UnicodeDecodeError, struct.error, ValueError) as exc:
        raise UpdateFormatError(f"not a Yjs v1 update: {exc}") from None
    if reader.offset != len(update):
        raise UpdateFormatError("not a Yjs v1 update: bytes after the delete set")
    pieces.append(Cut(_NO_STRUCTS, deletes, len(update)))
    return pieces
