"""How a model names an element: by ``$id``, by path (``/section[2]/list[0]``), or by a ``$next`` token.

- An id is what every read shows (``"root"`` is the root).
- A path walks down from the root by position among all children, with the tag as a check:
  ``/section[2]/item[0]`` is the root's third child, which must be a ``<section>``, then its first
  child, which must be an ``<item>``. ``/`` is the root. Paths are for elements found by position or
  by search; they move when siblings are inserted before them, ids never do.
- A continuation (``$next``, written ``<parent id>@<offset>:<anchor id>``) is where a cut listing of a
  parent's children goes on. The anchor is the first child that was cut: if others inserted or deleted
  siblings meanwhile, the listing resumes at the anchor, wherever it moved; if the anchor itself was
  deleted, at the offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from ..document import ROOT_ID, Element, MeshDocument
from ..errors import ElementNotFoundError, InvalidValueError

__all__ = ["Address", "Continuation", "element_path", "resolve"]

_SEGMENT = re.compile(r"([A-Za-z_][\w.-]*)\[(\d+)\]")
_CONTINUATION = re.compile(r"^(?P<parent>[^@/]+)@(?P<offset>\d+):(?P<anchor>.+)$")
_ID_HINT = (
    f'use an $id from a read (the root\'s is "{ROOT_ID}"), a path such as /section[0], or a $next token'
)


@dataclass(frozen=True, slots=True)
class Continuation:
    """Where a cut listing of ``parent_id``'s children goes on."""

    parent_id: str
    offset: int
    anchor_id: str

    def __str__(self) -> str:
        return f"{self.parent_id}@{self.offset}:{self.anchor_id}"

    @classmethod
    def parse(cls, text: str) -> Continuation | None:
        match = _CONTINUATION.match(text)
        if match is None:
            return None
        return cls(match["parent"], int(match["offset"]), match["anchor"])


class Address(NamedTuple):
    """A resolved address: the element, and for a continuation the first child position to list.

    A named tuple: every tool call resolves one or two, and a frozen dataclass costs twice as much to make.
    """

    element: Element
    first_child: int = 0


def resolve(document: MeshDocument, address: str) -> Address | None:
    """The element an id, path or continuation names; None for an id that no element has.

    Raises ElementNotFoundError for a path that leads nowhere (naming the step that failed) and
    InvalidValueError for a malformed path.
    """
    if address.startswith("/"):
        return Address(_walk(document, address))
    # Only a continuation has an @: an id, the usual address, needs no regex.
    continuation = Continuation.parse(address) if "@" in address else None
    if continuation is None:
        element = document.get_element(address)
        return None if element is None else Address(element)
    parent = document.get_element(continuation.parent_id)
    if parent is None:
        return None
    children = parent.get_children()
    anchor = next((at for at, child in enumerate(children) if child.id == continuation.anchor_id), None)
    return Address(parent, min(continuation.offset, len(children)) if anchor is None else anchor)


def element_path(element: Element, positions: dict[str, dict[str, int]] | None = None) -> str:
    """The element's path from the root. ``positions`` caches each parent's child positions by id,
    which callers reporting many elements share (a wide parent's children are read once)."""
    cache = positions if positions is not None else {}
    steps = []
    current = element
    while (parent := current.parent) is not None:
        siblings = cache.get(parent.id)
        if siblings is None:
            siblings = cache[parent.id] = {child.id: at for at, child in enumerate(parent.get_children())}
        steps.append(f"{current.tag_name}[{siblings[current.id]}]")
        current = parent
    return "/" + "/".join(reversed(steps))


def _walk(document: MeshDocument, path: str) -> Element:
    element = document.root
    walked = ""
    for step in (part for part in path.split("/") if part):
        match = _SEGMENT.fullmatch(step)
        if match is None:
            raise InvalidValueError(
                f"path step {step!r} of {path!r} is not tag[position]",
                hint="write paths like /section[2]/item[0]",
            )
        tag, position = match[1], int(match[2])
        children = element.get_children()
        if position >= len(children):
            raise ElementNotFoundError(
                f"{walked or '/'} has {len(children)} children; {step} is past the end", hint=_ID_HINT
            )
        child = children[position]
        if child.tag_name != tag:
            raise ElementNotFoundError(
                f"{walked or '/'} has a <{child.tag_name}> at position {position}, not a <{tag}>",
                hint=f"its path is {walked}/{child.tag_name}[{position}]; paths move when siblings change",
            )
        element = child
        walked += "/" + step
    return element
