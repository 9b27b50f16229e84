"""How a document sits in pycrdt: the layout's names, element ids, values, and the shared root.

See docs/document-layout.md.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Container, Iterator
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment

from ..schema import ID_ATTRIBUTE

__all__ = [
    "ELEMENT_ID_PATTERN",
    "FRAGMENT_NAME",
    "ROOT_ID",
    "attribute_items",
    "id_of",
    "new_element_id",
    "read_value",
    "repair_element_id",
    "root_update",
]

#: Name of the root XmlFragment; Yjs clients read it with ``ydoc.getXmlFragment("mesh")``.
FRAGMENT_NAME = "mesh"
#: The one other top-level type: a ``Map`` of ``{str(client id): participant name}`` that tells who made
#: which edits (outside the element tree, so the schema does not see it). A client writes only its own
#: entry, a string; the room server refuses anything else in it.
PARTICIPANTS_MAP = "participants"
#: Every replica creates the same root element with the same id (see :func:`root_update`).
ROOT_ID = "root"
#: What an element id may look like: the API assigns 8 lowercase base32 characters; document JSON may
#: bring its own short ids (docs/document-layout.md).
ELEMENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

_ID_BYTES = 5  # 40 random bits -> 8 base32 characters: cheap in tokens, collision odds ~1e-4 at 10k ids
_ID_CHARS = 8
#: Each byte value to the base32 character (RFC 4648's alphabet, lowercase) of its low 5 bits.
_BASE32_OF_BYTE = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[byte & 31] for byte in range(256))


def new_element_id() -> str:
    """A short random id (8 characters of lowercase base32), drawn from the OS's random source.

    The same 40 random bits as ``base64.b32encode(secrets.token_bytes(5)).lower()``, drawn from a batch
    made of one ``os.urandom`` read: a read per id cost three quarters of making it, a twentieth of a
    local insert.
    ``next`` on a list iterator is one step under the GIL, so threads never share an id.
    """
    element_id = next(_fresh_ids, None)
    return element_id if element_id is not None else _next_batch()


#: Ids drawn from the OS in one read, handed out once each.
_fresh_ids: Iterator[str] = iter(())
_BATCH_IDS = 256


def _next_batch() -> str:
    global _fresh_ids
    # One random byte per character, its low 5 bits picking it (256 is a multiple of 32, so each
    # character is uniform): the batch is its ids one after the other, made by C code alone.
    text = os.urandom(_ID_CHARS * _BATCH_IDS).translate(_BASE32_OF_BYTE).decode("ascii")
    ids = [text[at : at + _ID_CHARS] for at in range(0, len(text), _ID_CHARS)]
    _fresh_ids = iter(ids[1:])
    return ids[0]


def _forget_batch() -> None:
    # A forked child would hand out the very ids its parent does next.
    global _fresh_ids
    _fresh_ids = iter(())


os.register_at_fork(after_in_child=_forget_batch)


def repair_element_id(seed: str, taken: Container[str]) -> str:
    """The id a schema repair gives an element whose id is missing or taken, derived from ``seed``.

    Several servers can mend the same violation at once (docs/adr/0011-cluster.md): given the same
    document state and the same ``seed`` (the element's old id and position), they all pick this id,
    so their repairs are one and the same write.
    """
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{seed}#{attempt}".encode()).digest()[:_ID_BYTES]
        candidate = base64.b32encode(digest).decode("ascii").lower()
        if candidate not in taken:
            return candidate
        attempt += 1


def read_value(raw: Any) -> Any:
    """An attribute value as JSON would give it back: pycrdt stores every number as a float."""
    if type(raw) is float and raw.is_integer():
        return int(raw)
    return raw


def attribute_items(xml: XmlElement) -> list[tuple[str, Any]]:
    """The element's attributes as (name, value) pairs."""
    # pycrdt iterates attributes as (name, value) pairs but annotates __iter__ as returning an Iterable.
    view: Any = xml.attributes
    return list(view)


def id_of(xml: XmlElement) -> str | None:
    """The element's id, if it has a string one."""
    value = xml.attributes.get(ID_ATTRIBUTE)
    return value if isinstance(value, str) else None


_ROOT_UPDATES: dict[str, bytes] = {}


def root_update(root_tag: str) -> bytes:
    """The root element as an update every replica generates identically.

    Written by client id 0 at clock 0, the same bytes on every replica, so when replicas merge, Yjs
    sees one item instead of two concurrent roots.
    """
    update = _ROOT_UPDATES.get(root_tag)
    if update is None:
        seed: Doc[Any] = Doc(client_id=0)
        seed.get(FRAGMENT_NAME, type=XmlFragment).children.append(
            XmlElement(root_tag, {ID_ATTRIBUTE: ROOT_ID})
        )
        update = _ROOT_UPDATES[root_tag] = seed.get_update()
    return update
