"""Hand-built Yjs v1 updates for structs no pycrdt or Yjs API writes (an element as an attribute, a
plain value among an element's children, a map type inside an element).

Only what the hostile tests need: one client's items written with an explicit parent or with a left
origin (then Yjs takes the parent and key from that neighbour), content ``Any`` (strings, null),
characters or a shared type, and an optional delete set.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrdt import Encoder

from mesh_tools.document._yjs_update import Content, TypeRef

Id = tuple[int, int]


@dataclass(frozen=True)
class RawItem:
    #: The parent (a top-level name or an item id), or with ``origin=True`` the left neighbour's id.
    parent: Id | str
    key: str | None = None
    type_ref: TypeRef | None = None
    type_name: str | None = None
    values: tuple[str | None, ...] = ()
    #: Characters (string content) instead of values.
    text: str | None = None
    #: Deleted content of this length (what a full state holds of deleted items) instead of values.
    deleted: int | None = None
    origin: bool = False


def craft_update(
    client: int, clock: int, items: list[RawItem], deletes: dict[int, list[Id]] | None = None
) -> bytes:
    """One client's consecutive items from ``clock`` on, then the delete set (client -> [(clock, len)])."""
    encoder = Encoder()
    encoder.write_var_uint(1 if items else 0)
    if items:
        encoder.write_var_uint(len(items))
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
    for item in items:
        content = (
            Content.TYPE
            if item.type_ref is not None
            else Content.STRING
            if item.text is not None
            else Content.DELETED
            if item.deleted is not None
            else Content.ANY
        )
        if item.origin:
            assert isinstance(item.parent, tuple) and item.key is None
            encoder.stream.append(bytes([int(content) | 0x80]))  # a left origin follows: no parent, no key
            encoder.write_var_uint(item.parent[0])
            encoder.write_var_uint(item.parent[1])
        else:
            encoder.stream.append(bytes([int(content) | (0x20 if item.key is not None else 0)]))
            if isinstance(item.parent, str):
                encoder.write_var_uint(1)
                encoder.write_var_string(item.parent)
            else:
                encoder.write_var_uint(0)
                encoder.write_var_uint(item.parent[0])
                encoder.write_var_uint(item.parent[1])
        if item.key is not None:
            encoder.write_var_string(item.key)
        if item.type_ref is not None:
            encoder.write_var_uint(int(item.type_ref))
            if item.type_name is not None:
                encoder.write_var_string(item.type_name)
        elif item.text is not None:
            encoder.write_var_string(item.text)
        elif item.deleted is not None:
            encoder.write_var_uint(item.deleted)
        else:
            encoder.write_var_uint(len(item.values))
            for value in item.values:
                _write_any(encoder, value)
    ranges = deletes or {}
    encoder.write_var_uint(len(ranges))
    for deleted_client, spans in ranges.items():
        encoder.write_var_uint(deleted_client)
        encoder.write_var_uint(len(spans))
        for start, length in spans:
            encoder.write_var_uint(start)
            encoder.write_var_uint(length)
    return encoder.to_bytes()


def _write_any(encoder: Encoder, value: str | None) -> None:
    if value is None:
        encoder.write_var_uint(126)
    else:
        encoder.write_var_uint(119)
        encoder.write_var_string(value)
