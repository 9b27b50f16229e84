"""Read a Yjs v1 update without applying it: which items it creates, where, and what it deletes.

A CRDT cannot take a deletion back, so an update that would delete the shared root must be recognised
before it reaches a replica (docs/adr/0012-refusing-hostile-updates.md). This module only reads the
format (lib0 encoding, as Yjs and yrs write it); deciding what to refuse is the caller's job.

Update = structs • delete set. Structs: ``varUint(#clients)`` then per client ``varUint(#structs)
varUint(client) varUint(first clock)`` and the structs. A struct starts with an info byte: 0 = GC
(``varUint len``), 10 = skip (``varUint len``), otherwise an item whose low 5 bits are its content
kind and whose bits 8/7/6 say whether a left origin, a right origin and a parent key follow. An item
with neither origin names its parent: ``varUint 1`` + root-type name, or ``varUint 0`` + item id; then
its map key if bit 6 is set. Delete set: ``varUint(#clients)``, per client ``varUint client,
varUint(#ranges)``, ranges ``varUint clock, varUint length``.

Given the state vector of the replica the update is for (``varUint(#clients)``, then ``varUint client,
varUint clock`` pairs), the structs that replica already holds are read past but not returned: Yjs
skips them on apply. This is what ``pycrdt.get_update(update, state)`` would trim, without its cost
(it re-encodes the whole update in Rust, holding the GIL: ~100 ms for 8 MiB).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeAlias

__all__ = [
    "Content",
    "DecodedItem",
    "DecodedUpdate",
    "ItemId",
    "TypeRef",
    "UpdateFormatError",
    "decode_delete_set",
    "decode_state_vector",
    "decode_update",
]

ItemId: TypeAlias = tuple[int, int]  # (client, clock)


class Content:
    """The content kinds of an item (the info byte's low 5 bits).

    Plain int constants, not an enum: reading an enum member costs ~0.2 us (a descriptor), ten times a
    class attribute, and the guard compares kinds a dozen times per item of every update it reads.
    """

    GC: Final = 0
    DELETED: Final = 1
    JSON: Final = 2
    BINARY: Final = 3
    STRING: Final = 4
    EMBED: Final = 5
    FORMAT: Final = 6
    TYPE: Final = 7
    ANY: Final = 8
    DOC: Final = 9
    SKIP: Final = 10


class TypeRef:
    """The shared type a ``Content.TYPE`` item creates (plain ints, as :class:`Content`)."""

    ARRAY: Final = 0
    MAP: Final = 1
    TEXT: Final = 2
    XML_ELEMENT: Final = 3
    XML_FRAGMENT: Final = 4
    XML_HOOK: Final = 5
    XML_TEXT: Final = 6


class UpdateFormatError(ValueError):
    """The bytes are not a Yjs v1 update."""


class DecodedItem(NamedTuple):
    """One struct of an update (GC and skip structs too, as ``Content.GC`` / ``Content.SKIP``).

    A named tuple, not a dataclass: a whole-document update has tens of thousands of structs.
    """

    id: ItemId
    length: int
    #: A :class:`Content` value.
    content: int
    origin: ItemId | None = None
    right_origin: ItemId | None = None
    #: Set only when the item has neither origin: a root-type name or the parent item's id.
    parent: str | ItemId | None = None
    #: The map key (an attribute name for XML elements), when the item is written with its parent.
    key: str | None = None
    #: A :class:`TypeRef` value.
    type_ref: int | None = None
    #: The tag of an XML element (or hook name) a ``Content.TYPE`` item creates.
    type_name: str | None = None
    #: The values of a ``Content.ANY`` item (an attribute value is one of these); a ``Content.STRING``
    #: item's characters, as one string.
    values: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodedUpdate:
    items: list[DecodedItem]
    #: client -> [(first clock, length)] of the ranges the update deletes.
    deletes: dict[int, list[tuple[int, int]]]
    #: Whether it has structs at clocks below ``known`` (left out of ``items``, or straddling it).
    repeats: bool = False


_ORIGIN = 0x80
_RIGHT_ORIGIN = 0x40
_PARENT_KEY = 0x20
_FLOAT32 = struct.Struct(">f")
_FLOAT64 = struct.Struct(">d")
_INT64 = struct.Struct(">q")
#: Content kinds bound to module names, for the per-struct comparisons of :meth:`_Reader.struct_length`.
_GC, _DELETED, _STRING, _TYPE, _ANY, _SKIP = (
    Content.GC,
    Content.DELETED,
    Content.STRING,
    Content.TYPE,
    Content.ANY,
    Content.SKIP,
)
#: The bytes after the tag of each fixed-size "any" value: float64, float32, int64, true, false,
#: null and undefined.
_FIXED_SIZES = {123: 8, 124: 4, 122: 8, 120: 0, 121: 0, 126: 0, 127: 0}


def decode_update(update: bytes, known: bytes | None = None) -> DecodedUpdate:
    """Every struct and delete range of a v1 update; UpdateFormatError if it does not parse.

    ``known``: a state vector; structs wholly below it are left out (a struct that straddles it is
    returned whole, as its origin and parent are written only with its first clock).
    """
    reader = _Reader(update)
    try:
        items = reader.structs({} if known is None else decode_state_vector(known))
        deletes = reader.delete_set()
    except (IndexError, UnicodeDecodeError, struct.error, ValueError) as exc:
        raise UpdateFormatError(f"not a Yjs v1 update: {exc}") from None
    if reader.offset != len(update):
        raise UpdateFormatError("not a Yjs v1 update: bytes after the delete set")
    return DecodedUpdate(items, deletes, reader.repeats)


def decode_delete_set(data: bytes) -> dict[int, list[tuple[int, int]]]:
    """A v1 delete set on its own (as ``TransactionEvent.delete_set`` gives one), like an update's tail."""
    reader = _Reader(data)
    try:
        deletes = reader.delete_set()
    except (IndexError, ValueError) as exc:
        raise UpdateFormatError(f"not a Yjs delete set: {exc}") from None
    return deletes


def decode_state_vector(state: bytes) -> dict[int, int]:
    """A v1 state vector (``varUint(#clients)``, then ``varUint client, varUint clock`` each)."""
    reader = _Reader(state)
    try:
        vector = {reader.uint(): reader.uint() for _ in range(reader.uint())}
    except (IndexError, ValueError) as exc:
        raise UpdateFormatError(f"not a Yjs state vector: {exc}") from None
    return vector


class _Reader:
    __slots__ = ("data", "offset", "repeats")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0
        self.repeats = False

    def uint(self) -> int:
        data, offset = self.data, self.offset
        byte = data[offset]
        offset += 1
        if byte < 0x80:
            self.offset = offset
            return byte
        value = byte & 0x7F
        shift = 7
        while byte & 0x80:
            byte = data[offset]
            offset += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > 70:
                raise ValueError("a variable-length integer is too long")
        if value >> 64:  # yrs reads at most 64 bits (lib0 in JavaScript 53); the record keeps 64
            raise ValueError("a variable-length integer is wider than 64 bits")
        self.offset = offset
        return value

    def signed(self) -> int:
        data = self.data
        byte = data[self.offset]
        self.offset += 1
        value = byte & 0x3F
        negative = byte & 0x40
        shift = 6
        while byte & 0x80:
            byte = data[self.offset]
            self.offset += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > 70:
                raise ValueError("a variable-length integer is too long")
        return -value if negative else value

    def raw(self, length: int) -> bytes:
        end = self.offset + length
        if end > len(self.data):
            raise ValueError("a length runs past the end of the update")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def string(self) -> str:
        return self.raw(self.uint()).decode("utf-8")

    def id(self) -> ItemId:
        data, offset = self.data, self.offset
        client = data[offset]
        clock = data[offset + 1] if client < 0x80 else 0x80
        if clock < 0x80:  # both one byte: most clocks of small documents, and client 0's
            self.offset = offset + 2
            return client, clock
        return self.uint(), self.uint()

    def structs(self, known: dict[int, int]) -> list[DecodedItem]:
        items: list[DecodedItem] = []
        for _ in range(self.uint()):
            count = self.uint()
            client_start = self.offset
            client = self.uint()
            encoded_client = self.data[client_start : self.offset]
            clock = self.uint()
            held = known.get(client, 0)
            if count and clock < held:
                self.repeats = True
            for _ in range(count):
                item = self.struct(client, clock, encoded_client)
                clock += item.length
                if clock > held:
                    items.append(item)
        return items

    def struct_length(self, client: bytes) -> int:
        """Read past one struct without decoding it; returns how many clocks it spans.

        ``client``: the encoded client id of the structs being read. What
        :func:`~._update_split.split_update` needs of every struct of a whole-document update, where
        building a :class:`DecodedItem` cost ~8 us a struct (3.6 s of a 100k-element load): the common
        structs (elements, one-value attributes) are read with local variables, and an id of the same
        client (most origins and parents, 8 varuint bytes each) is passed with one comparison. Values
        are not checked: the pieces go to yrs, which reads them again.
        """
        data = self.data
        offset = self.offset
        info = data[offset]
        offset += 1
        kind = info & 0x1F
        if kind in (_GC, _SKIP):
            self.offset = offset
            return self.uint()
        # Ids (origins, a parent item): two varuints each.
        ids = (info >> 7) + (info >> 6 & 1)
        if not ids:
            if data[offset] == 1:  # a root type's name
                self.offset = offset + 1
                name_size = self.uint()
                offset = self.offset + name_size
            else:
                offset += 1
                ids = 1
        for _ in range(ids):
            if data.startswith(client, offset):
                offset += len(client)
            else:
                while data[offset] & 0x80:
                    offset += 1
                offset += 1
            while data[offset] & 0x80:
                offset += 1
            offset += 1
        if info & _PARENT_KEY and not info & (_ORIGIN | _RIGHT_ORIGIN):
            size = data[offset]
            if size < 0x80:
                offset += 1 + size
            else:
                self.offset = offset
                size = self.uint()
                offset = self.offset + size
        if kind == _ANY and data[offset] == 1:  # one value: an attribute's
            tag = data[offset + 1]
            size = data[offset + 2]
            if (tag == 119 or tag == 116) and size < 0x80:  # a short string or byte array
                self.offset = offset + 3 + size
            else:
                self.offset = offset + 1
                self.skip_any()
            return 1
        self.offset = offset
        if kind == _ANY:
            length = self.uint()
            for _ in range(length):
                self.skip_any()
            return length
        if kind == _STRING:
            text = self.raw(self.uint())
            # Yjs counts string items in UTF-16 code units.
            return len(text) if text.isascii() else len(text.decode("utf-8").encode("utf-16-le")) // 2
        if kind == _TYPE:
            if self.uint() in (TypeRef.XML_ELEMENT, TypeRef.XML_HOOK):
                tag_size = self.uint()
                self.offset += tag_size
            return 1
        if kind == _DELETED:
            return self.uint()
        return self.content((0, 0), kind, None, None, None, None).length

    def skip_any(self) -> None:
        data = self.data
        tag = data[self.offset]
        if tag == 119 or tag == 116:  # a string, a byte array
            self.offset += 1
            size = self.uint()
            self.offset += size
        elif tag == 125:  # a varint
            offset = self.offset + 1
            while data[offset] & 0x80:
                offset += 1
            self.offset = offset + 1
        elif tag in _FIXED_SIZES:
            self.offset += 1 + _FIXED_SIZES[tag]
        else:  # an object or array: rare in a document's attributes
            self.any()

    def struct(self, client: int, clock: int, encoded_client: bytes) -> DecodedItem:
        """One struct of ``client`` (whose varint is ``encoded_client``) at ``clock``.

        Read with local variables, the common shapes (an element, an attribute's one value, an id of the
        struct's own client) without a call per field: a whole-document state has four structs an element,
        and the guard's record of a loaded document reads them all (ADR 0012).
        """
        data = self.data
        offset = self.offset
        info = data[offset]
        offset += 1
        kind = info & 0x1F
        if kind in (_GC, _SKIP):
            self.offset = offset
            return _item((client, clock), self.uint(), kind, None, None, None, None, None, None, ())
        origin: ItemId | None = None
        right_origin: ItemId | None = None
        parent: str | ItemId | None = None
        key = None
        if info & (_ORIGIN | _RIGHT_ORIGIN):
            if info & _ORIGIN:
                origin, offset = self.id_at(offset, client, encoded_client)
            if info & _RIGHT_ORIGIN:
                right_origin, offset = self.id_at(offset, client, encoded_client)
        else:
            flag = data[offset]
            if flag < 0x80:
                offset += 1
            else:
                self.offset = offset
                flag = self.uint()
                offset = self.offset
            if flag == 1:
                self.offset = offset
                parent = self.string()
                offset = self.offset
            else:
                parent, offset = self.id_at(offset, client, encoded_client)
            if info & _PARENT_KEY:
                size = data[offset]
                if size < 0x80 and offset + 1 + size <= len(data):
                    key = data[offset + 1 : offset + 1 + size].decode("utf-8")
                    offset += 1 + size
                else:
                    self.offset = offset
                    key = self.string()
                    offset = self.offset
        if kind == _ANY and data[offset] == 1:  # one value: an attribute's
            tag = data[offset + 1]
            size = data[offset + 2] if tag == 119 else 0x80
            end = offset + 3 + size
            value: Any
            if size < 0x80 and end <= len(data):  # a short string
                self.offset = end
                value = data[offset + 3 : end].decode("utf-8")
            else:
                self.offset = offset + 1
                value = self.any()
            return _item((client, clock), 1, kind, origin, right_origin, parent, key, None, None, (value,))
        if kind == _TYPE:
            type_ref = data[offset]
            if type_ref == TypeRef.XML_ELEMENT and data[offset + 1] < 0x80:
                size = data[offset + 1]
                end = offset + 2 + size
                if end <= len(data):
                    self.offset = end
                    tag_name = data[offset + 2 : end].decode("utf-8")
                    return _item(
                        (client, clock), 1, kind, origin, right_origin, parent, key, type_ref, tag_name, ()
                    )
        self.offset = offset
        return self.content((client, clock), kind, origin, right_origin, parent, key)

    def id_at(self, offset: int, client: int, encoded_client: bytes) -> tuple[ItemId, int]:
        """The id at ``offset`` and the offset after it; an id of ``client`` (written as
        ``encoded_client``) is recognised without reading its varint."""
        data = self.data
        if data.startswith(encoded_client, offset):
            offset += len(encoded_client)
            clock = data[offset]
            if clock < 0x80:
                return (client, clock), offset + 1
            high = data[offset + 1]
            if high < 0x80:  # clocks below 16,384: most of a 10k-element document's
                return (client, clock & 0x7F | high << 7), offset + 2
            self.offset = offset
            return (client, self.uint()), self.offset
        self.offset = offset
        item_id = self.id()
        return item_id, self.offset

    def content(
        self,
        item_id: ItemId,
        kind: int,
        origin: ItemId | None,
        right_origin: ItemId | None,
        parent: str | ItemId | None,
        key: str | None,
    ) -> DecodedItem:
        type_ref = None
        type_name = None
        values: tuple[Any, ...] = ()
        length = 1
        if kind == Content.DELETED:
            length = self.uint()
        elif kind == Content.JSON:
            length = self.uint()
            for _ in range(length):
                self.string()
        elif kind == Content.BINARY:
            self.raw(self.uint())
        elif kind == Content.STRING:
            text = self.string()
            values = (text,)
            # Yjs counts string items in UTF-16 code units.
            length = len(text.encode("utf-16-le")) // 2
        elif kind == Content.EMBED:
            self.string()
        elif kind == Content.FORMAT:
            self.string()
            self.string()
        elif kind == Content.TYPE:
            type_ref = self.uint()
            if type_ref == TypeRef.XML_ELEMENT or type_ref == TypeRef.XML_HOOK:
                type_name = self.string()
        elif kind == Content.ANY:
            length = self.uint()
            values = tuple([self.any() for _ in range(length)])
        elif kind == Content.DOC:
            self.string()
            self.any()
        else:
            raise ValueError(f"unknown content kind {kind}")
        if length < 1:
            raise ValueError("an item of length 0")
        return _item(item_id, length, kind, origin, right_origin, parent, key, type_ref, type_name, values)

    def any(self) -> Any:
        # lib0's "any" encoding; containers are read with an explicit stack, so no depth is too deep.
        tag = self.data[self.offset]
        if tag != 118 and tag != 117:
            self.offset += 1
            return self.scalar(tag)
        result: list[Any] = []
        # Each frame: (container, entries still to read); an object's entries start with their key.
        stack: list[tuple[Any, int]] = [(result, 1)]
        while stack:
            container, left = stack[-1]
            if left == 0:
                stack.pop()
                continue
            stack[-1] = (container, left - 1)
            name = self.string() if isinstance(container, dict) else None
            tag = self.data[self.offset]
            self.offset += 1
            value: Any
            if tag == 118:
                value = {}
                stack.append((value, self.uint()))
            elif tag == 117:
                value = []
                stack.append((value, self.uint()))
            else:
                value = self.scalar(tag)
            if isinstance(container, dict):
                container[name] = value
            else:
                container.append(value)
        return result[0]

    def scalar(self, tag: int) -> Any:
        if tag == 119:
            length = self.uint()
            end = self.offset + length
            if end > len(self.data):
                raise ValueError("a string runs past the end of the update")
            text = self.data[self.offset : end].decode("utf-8")
            self.offset = end
            return text
        if tag == 125:
            return self.signed()
        if tag == 123:
            return _FLOAT64.unpack(self.raw(8))[0]
        if tag == 120:
            return True
        if tag == 121:
            return False
        if tag == 126 or tag == 127:
            return None
        if tag == 124:
            return _FLOAT32.unpack(self.raw(4))[0]
        if tag == 122:
            return _INT64.unpack(self.raw(8))[0]
        if tag == 116:
            return self.raw(self.uint())
        raise ValueError(f"unknown value tag {tag}")

    def delete_set(self) -> dict[int, list[tuple[int, int]]]:
        """Client -> its deleted ranges, sorted and merged (Yjs writes them so; a hostile update need
        not), so they can be searched by bisection (``_placements.overlaps``)."""
        deletes: dict[int, list[tuple[int, int]]] = {}
        for _ in range(self.uint()):
            client = self.uint()
            ranges = deletes.setdefault(client, [])
            for _ in range(self.uint()):
                ranges.append((self.uint(), self.uint()))
        for client, ranges in deletes.items():
            if any(length == 0 for _, length in ranges) or any(
                ranges[i][0] + ranges[i][1] >= ranges[i + 1][0] for i in range(len(ranges) - 1)
            ):
                deletes[client] = _merged(ranges)
        return deletes


def _item(
    item_id: ItemId,
    length: int,
    content: int,
    origin: ItemId | None,
    right_origin: ItemId | None,
    parent: str | ItemId | None,
    key: str | None,
    type_ref: int | None,
    type_name: str | None,
    values: tuple[Any, ...],
) -> DecodedItem:
    """``DecodedItem(...)`` without the class call's overhead (half the cost of building one)."""
    fields = (item_id, length, content, origin, right_origin, parent, key, type_ref, type_name, values)
    return tuple.__new__(DecodedItem, fields)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(clock, length) ranges sorted, with those that overlap or touch joined and empty ones left out."""
    out: list[tuple[int, int]] = []
    for clock, length in sorted(ranges):
        if length == 0:
            continue
        if out and clock <= out[-1][0] + out[-1][1]:
            start, previous = out[-1]
            out[-1] = (start, max(previous, clock + length - start))
        else:
            out.append((clock, length))
    return out
