"""Finding elements in a document of any size: by tag, by an attribute's value, by a text substring.

A search reads the subtree once as document JSON and walks it in document order until a page is
full; the toolkit keeps the walk (:class:`SearchWalk`), so following ``next`` resumes it instead
of reading and walking the subtree again, until the document changes.

A match is reported as its id, tag, path and parent id plus a short preview of its attributes: enough
to pick it and act on it (any tool takes the id or the path) without reading its neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ..document import Element
from ..errors import InvalidValueError
from ..schema import ID_ATTRIBUTE, MeshSchema
from ._addresses import element_path

__all__ = ["PREVIEW_CHARS", "Match", "SearchPage", "SearchQuery", "SearchWalk"]

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


class SearchWalk:
    """One search walking its subtree lazily, so that the next page resumes where the last one stopped.

    The subtree is read once as document JSON (one CRDT transaction, the document's fastest read) and
    walked in document order only as far as a page needs. A walk is valid while the document is
    unchanged: the caller keeps it with the document's edit count and starts a new one after any edit.
    """

    def __init__(self, start: Element, query: SearchQuery, *, schema: MeshSchema) -> None:
        self.start_id = start.id
        self.query = query
        self.found = 0
        """Matches handed out so far: the ``skip`` of the page this walk can answer next."""
        self._matches = _walk(start, query, schema)
        self._held: Match | None = None

    def page(self, skip: int, *, budget: int, limit: int) -> SearchPage:
        """The page of at most ``limit`` matches and about ``budget`` characters after the first ``skip``
        (at least ``found``: a walk only goes forwards)."""
        while self.found < skip and self._next() is not None:
            self.found += 1
        found: list[Match] = []
        used = 0
        while (match := self._next()) is not None:
            cost = len(match["path"]) + len(match["preview"]) + len(match["id"]) * 2 + _MATCH_OVERHEAD
            if len(found) == limit or (found and used + cost > budget):
                self._held = match
                return SearchPage(found, self.found)
            used += cost
            found.append(match)
            self.found += 1
        return SearchPage(found, None)

    def _next(self) -> Match | None:
        match, self._held = self._held, None
        return match if match is not None else next(self._matches, None)


def _walk(start: Element, query: SearchQuery, schema: MeshSchema) -> Iterator[Match]:
    children_of = {
        element.tag_name: element.child_property.name
        for element in schema.elements
        if element.child_property is not None
    }
    parent = start.parent
    # (document JSON of an element, its path, its parent's id), in document order.
    stack: list[tuple[Mapping[str, Any], str, str | None]] = [
        (start.to_json(include_ids=True), element_path(start), None if parent is None else parent.id)
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
        if query.matches(tag, attributes):
            yield Match(id=element_id, tag=tag, path=path, parent=parent_id, preview=_preview(attributes))


def _preview(attributes: Mapping[str, Any]) -> str:
    text = json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
