"""Finding elements in a document of any size: by tag, by an attribute's value, by a text substring.

A search reads the subtree once as document JSON and walks it in document order until a page is
full. A match is reported as its id, tag, path and parent id plus a short preview of its attributes:
enough to pick it and act on it (any tool takes the id or the path) without reading its neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ..document import Element
from ..errors import InvalidValueError
from ..schema import ID_ATTRIBUTE, MeshSchema
from ._addresses import element_path

__all__ = ["PREVIEW_CHARS", "Match", "SearchPage", "SearchQuery", "search"]

#: Characters of an element's attributes (compact JSON) shown with each match.
PREVIEW_CHARS = 80
# What a match costs in the result besides its preview and ids: keys, path steps' punctuation, commas.
_MATCH_OVERHEAD = 60


class Match(TypedDict):
    """One element found: enough to act on it without reading around it."""

    id: str
    tag: str
    path: str
    parent: str | None
    preview: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for; every condition given must hold (none given matches every element)."""

    tag: str | None = None
    attribute: str | None = None
    """Only this attribute is looked at; alone, it matches elements that have it set."""
    equals: Any = None
    """The attribute's exact value (needs ``attribute``); None means any value."""
    text: str | None = None
    """A case-insensitive substring of a string attribute's value (of ``attribute`` if given)."""

    def __post_init__(self) -> None:
        if self.equals is not None and self.attribute is None:
            raise InvalidValueError("equals needs an attribute", hint="give attribute, or use text instead")

    def matches(self, tag: str, attributes: Mapping[str, Any]) -> bool:
        if self.tag is not None and tag != self.tag:
            return False
        if self.attribute is None and self.text is None:
            return True
        if self.attribute is not None:
            if self.attribute not in attributes:
                return False
            value = attributes[self.attribute]
            if self.equals is not None and (value != self.equals or type(value) is not type(self.equals)):
                return False
            values = [value]
        else:
            values = list(attributes.values())
        if self.text is None:
            return True
        needle = self.text.casefold()
        return any(isinstance(value, str) and needle in value.casefold() for value in values)


@dataclass(frozen=True, slots=True)
class SearchPage:
    matches: list[Match]
    next_skip: int | None
    """How many matches the next page skips; None when this page is the last."""


def search(
    start: Element, query: SearchQuery, *, schema: MeshSchema, skip: int, budget: int, limit: int
) -> SearchPage:
    """Matches under ``start`` (itself included) in document order, after the first ``skip``.

    A page holds at most ``limit`` matches and about ``budget`` characters of result. The subtree is
    read once as document JSON (one CRDT transaction, the document's fastest read) and walked here.
    """
    children_of = {
        element.tag_name: element.child_property.name
        for element in schema.elements
        if element.child_property is not None
    }
    parent = start.parent
    start_path = element_path(start)
    found: list[Match] = []
    used = 0
    seen = 0
    # (document JSON of an element, its path, its parent's id), in document order.
    stack: list[tuple[Mapping[str, Any], str, str | None]] = [
        (start.to_json(include_ids=True), start_path, None if parent is None else parent.id)
    ]
    while stack:
        data, path, parent_id = stack.pop()
        ((tag, body),) = data.items()
        element_id = body[ID_ATTRIBUTE]
        child_name = children_of.get(tag)
        if child_name is not None:
            base = path.rstrip("/")
            stack.extend(
                (child, f"{base}/{next(iter(child))}[{at}]", element_id)
                for at, child in reversed(list(enumerate(body.get(child_name, ()))))
            )
        attributes = {name: value for name, value in body.items() if name not in (ID_ATTRIBUTE, child_name)}
        if not query.matches(tag, attributes):
            continue
        seen += 1
        if seen <= skip:
            continue
        match = Match(id=element_id, tag=tag, path=path, parent=parent_id, preview=_preview(attributes))
        cost = len(path) + len(match["preview"]) + len(element_id) * 2 + _MATCH_OVERHEAD
        if len(found) == limit or (found and used + cost > budget):
            return SearchPage(found, skip + len(found))
        used += cost
        found.append(match)
    return SearchPage(found, None)


def _preview(attributes: Mapping[str, Any]) -> str:
    text = json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
