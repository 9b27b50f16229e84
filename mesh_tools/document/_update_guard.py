"""Refuse, before it is applied, an update that no repair could undo or that leaves the layout.

A CRDT cannot take back a deletion, and a second root or a foreign top-level type cannot be removed
once integrated without guessing which root is the real one. So the room server reads every incoming
update (``_yjs_update``) and refuses it whole when it:

- deletes or rewrites an item of client 0, which writes only the shared root (_layout.root_update);
- inserts anything beside the root, or into a top-level type other than the ``mesh`` fragment and the
  ``participants`` register (where a client may write only its own name, a string);
- creates a shared type other than an XML element or an element's text node (maps, arrays, hooks,
  sub-documents), or JSON or binary content, which no schema allows;
- creates a text node in an element whose type declares no text, or puts characters, embeds or formats
  anywhere but in a text node (where the parent is in the update; text edits of elements the replica
  already holds are checked after applying, and text where none is declared is then removed);
- puts a plain value in an element's child list, or an element in an attribute;
- writes a malformed ``$id``.

What the update alone cannot tell (schema checks; a ``$id`` rewritten, which Yjs encodes as an item
whose origin is the old value, so the key is not in the update; depth and size) is checked after it is
applied and mended by one server edit. Given the replica's state vector, the check reads only the
structs the replica lacks (Yjs skips the others), so a full state from a replica that is nearly in sync
is judged by what it adds. Pure Python, so a worker thread running it lets the event loop take the GIL
back (docs/adr/0016-big-frames-off-the-event-loop.md). See docs/adr/0012-refusing-hostile-updates.md.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import NoReturn

from ..errors import RemoteProtocolError, UpdateRefusedError
from ..schema import ID_ATTRIBUTE, MeshSchema, rules
from ._layout import ELEMENT_ID_PATTERN, FRAGMENT_NAME, PARTICIPANTS_MAP
from ._yjs_update import Content, DecodedItem, ItemId, TypeRef, decode_update

__all__ = ["ROOT_CLIENT", "check_update"]

#: The client id that writes the shared root, and how many clocks the root recipe uses (element, $id).
ROOT_CLIENT = 0
_ROOT_CLOCKS = 2
_ROOT_ITEM = (ROOT_CLIENT, 0)

#: What only a text node holds.
_TEXT_CONTENT: dict[int, str] = {
    Content.STRING: "text",
    Content.EMBED: "an embed",
    Content.FORMAT: "a text format",
}
_CONTENT_NAMES: dict[int, str] = {
    Content.JSON: "JSON content",
    Content.BINARY: "binary content",
    Content.DOC: "a sub-document",
}
_TYPE_NAMES: dict[int, str] = {
    TypeRef.ARRAY: "an array",
    TypeRef.MAP: "a map",
    TypeRef.TEXT: "a text",
    TypeRef.XML_FRAGMENT: "an XML fragment",
    TypeRef.XML_HOOK: "an XML hook",
}


def check_update(
    update: bytes,
    known: bytes | None = None,
    *,
    schema: MeshSchema | None = None,
    elements: int = 0,
    max_elements: int | None = None,
) -> None:
    """Raise UpdateRefusedError if it breaks the layout beyond repair, RemoteProtocolError if unreadable.

    ``known``: the state vector of the replica it will be applied to; what that replica already holds
    is skipped by Yjs, so only the rest is read. ``schema``: which elements may hold text (without it,
    none may). With ``max_elements``, an update that would take a document of ``elements`` elements
    past that many is refused with DocumentLimitError.
    """
    try:
        decoded = decode_update(update, known)
    except ValueError as exc:  # UpdateFormatError
        raise RemoteProtocolError("the update cannot be applied", hint=str(exc)[:200]) from None
    if ROOT_CLIENT in decoded.deletes:
        _refuse("it deletes the root element or its id")
    parents = _Parents(decoded.items, schema)
    for item in decoded.items:
        _check_item(item, parents)
    if max_elements is not None:
        created = sum(
            1 for item in decoded.items if item.type_ref == TypeRef.XML_ELEMENT and item.id[0] != ROOT_CLIENT
        )
        if elements + created > max_elements:
            raise rules.too_many_elements(max_elements)


class _Parents:
    """What an item of the update sits in, as far as the update itself (and the root) tells.

    Yjs writes the parent only for an item with neither origin; the others are in their origin's
    parent, which is found when that origin is in the update too.
    """

    def __init__(self, items: list[DecodedItem], schema: MeshSchema | None) -> None:
        self._text_tags = (
            frozenset()
            if schema is None
            else frozenset(e.tag_name for e in schema.elements if e.text_property)
        )
        self._root_tag = None if schema is None else schema.root_tag_name
        self._by_client: dict[int, tuple[list[int], list[DecodedItem]]] = {}
        for item in items:
            starts, found = self._by_client.setdefault(item.id[0], ([], []))
            starts.append(item.id[1])
            found.append(item)
        for starts, found in self._by_client.values():
            order = sorted(range(len(starts)), key=starts.__getitem__)
            starts[:] = [starts[i] for i in order]
            found[:] = [found[i] for i in order]

    def holds_text(self, parent: ItemId | None) -> bool | None:
        """Whether the type ``parent`` names may hold text: True, False, or None when it is unknown."""
        if parent is None:
            return None
        if parent == _ROOT_ITEM:
            return self._root_tag in self._text_tags
        created = self._item(parent)
        if created is None or created.id != parent or created.content != Content.TYPE:
            return None if created is None else False
        return created.type_ref == TypeRef.XML_ELEMENT and created.type_name in self._text_tags

    def is_text_node(self, parent: ItemId | None) -> bool | None:
        """Whether ``parent`` is a text node: True, False, or None when the update does not say."""
        if parent is None or parent == _ROOT_ITEM:
            return None if parent is None else False
        created = self._item(parent)
        if created is None:
            return None
        return created.id == parent and created.type_ref == TypeRef.XML_TEXT

    def parent_of(self, item: DecodedItem) -> ItemId | None:
        """The id of the type ``item`` is inserted into, when the update tells it; else None."""
        seen = 0
        while seen < 1024:  # an origin chain longer than this is left to the checks after applying
            if isinstance(item.parent, tuple):
                return item.parent
            if item.parent is not None:
                return None
            neighbour = item.origin or item.right_origin
            found = None if neighbour is None else self._item(neighbour)
            if found is None:
                return None
            item, seen = found, seen + 1
        return None

    def _item(self, item_id: ItemId) -> DecodedItem | None:
        client, clock = item_id
        entry = self._by_client.get(client)
        if entry is None:
            return None
        starts, found = entry
        at = bisect_right(starts, clock) - 1
        if at < 0 or clock >= starts[at] + found[at].length:
            return None
        return found[at]


def _check_item(item: DecodedItem, parents: _Parents) -> None:
    client, clock = item.id
    if client == ROOT_CLIENT:
        # Every replica already holds these clocks (the root recipe); Yjs skips them.
        if clock + item.length > _ROOT_CLOCKS:
            _refuse(f"it writes as client {ROOT_CLIENT}, which only creates the root")
        return
    if item.content in (Content.GC, Content.SKIP, Content.DELETED):
        return
    for neighbour in (item.origin, item.right_origin):
        if neighbour is not None and neighbour[0] == ROOT_CLIENT:
            _refuse("it inserts beside the root element or rewrites the root's id")
    if isinstance(item.parent, tuple) and item.parent[0] == ROOT_CLIENT and item.parent != _ROOT_ITEM:
        _refuse("it nests an item inside the root's id")
    if item.parent == PARTICIPANTS_MAP:
        _check_participant_entry(item)
        return
    if isinstance(item.parent, str):
        if item.parent == FRAGMENT_NAME:
            _refuse("it inserts a second root element")
        _refuse(f"it creates the top-level type {item.parent!r}; documents hold only {FRAGMENT_NAME!r}")
    if item.content in _CONTENT_NAMES:
        _refuse(f"it inserts {_CONTENT_NAMES[item.content]}, which no schema allows")
    if item.content in _TEXT_CONTENT:
        if item.key is not None or parents.is_text_node(parents.parent_of(item)) is False:
            _refuse(f"it inserts {_TEXT_CONTENT[item.content]} outside a text node")
        return
    if item.content == Content.TYPE:
        if item.type_ref == TypeRef.XML_TEXT:
            if item.key is not None or parents.holds_text(parents.parent_of(item)) is False:
                _refuse("it creates a text node in an element whose type declares no text")
            return
        if item.type_ref != TypeRef.XML_ELEMENT:
            kind = _TYPE_NAMES.get(item.type_ref or 0, "a shared type")
            _refuse(f"it creates {kind}; documents hold only elements and their text")
        if item.key is not None:
            _refuse(f"it stores an element in the attribute {item.key!r}")
        return
    # Content.ANY: an attribute value when written with its key.
    if item.parent is not None and item.key is None:
        _refuse("it puts a plain value among an element's children")
    if item.key == ID_ATTRIBUTE:
        value = item.values[0] if len(item.values) == 1 else None
        if not isinstance(value, str) or ELEMENT_ID_PATTERN.fullmatch(value) is None:
            _refuse(f"{value!r} is not an element id (1-64 letters, digits, '_' or '-')")


def _check_participant_entry(item: DecodedItem) -> None:
    # A client may name only itself: otherwise a writer could book its edits to someone else.
    if item.content != Content.ANY or item.key != str(item.id[0]):
        _refuse(f"it writes {PARTICIPANTS_MAP!r} entries other than its own client's name")
    if len(item.values) != 1 or not isinstance(item.values[0], str):
        _refuse(f"a {PARTICIPANTS_MAP!r} entry is a participant's name, a string")


def _refuse(reason: str) -> NoReturn:
    raise UpdateRefusedError(
        f"the update was refused: {reason}",
        hint="edit through the document API, or keep to docs/document-layout.md; nothing was applied",
    )
