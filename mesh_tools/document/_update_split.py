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
"""

from __future__ import annotations

import struct

from pycrdt import Encoder

from ._yjs_update import UpdateFormatError, _Reader

__all__ = ["split_update"]

_NO_STRUCTS = b"\x00"
_NO_DELETES = b"\x00"


def split_update(update: bytes, structs_per_piece: int) -> list[bytes]:
    """``update`` as pieces of at most ``structs_per_piece`` structs each, then its delete set.

    Raises UpdateFormatError if it is not a v1 update.
    """
    reader = _Reader(update)
    pieces: list[bytes] = []
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
                pieces.append(head.to_bytes() + update[start : reader.offset] + _NO_DELETES)
        deletes = update[reader.offset :]
        reader.delete_set()
    except (IndexError, UnicodeDecodeError, struct.error, ValueError) as exc:
        raise UpdateFormatError(f"not a Yjs v1 update: {exc}") from None
    if reader.offset != len(update):
        raise UpdateFormatError("not a Yjs v1 update: bytes after the delete set")
    pieces.append(_NO_STRUCTS + deletes)
    return pieces
