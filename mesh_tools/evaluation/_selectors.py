"""A small CSS-like selector language over document JSON, used by checks and reference solutions.

Grammar (whitespace = descendant, ``>`` = child)::

    column[name="To do"] > task:first
    section:nth(1) p[style=lead]
    task[done=true]   task[points]   *[title!="Draft"]   li[text*="milk"]

A step is a tag (or ``*``), any number of ``[attr]`` / ``[attr OP value]`` filters with OP one of
``=``, ``!=`` (not equal or not set) and ``*=`` (substring), and at most one of ``:first``,
``:last``, ``:nth(i)`` (0-based).
Values are JSON literals (``3``, ``true``, ``null``, ``"quoted text"``) or bare words read as strings.
The first step matches anywhere in the tree, the root included. A position pseudo-class picks from
*all* the elements its step matched, in document order: ``task:first`` is the first task of the
document, ``column:nth(1) > task`` are the tasks of the second column.

Document JSON is MeshAgent's shape, ``{tag: {attributes..., <children>: [...]}}``: the list-valued
key holds the children, every other key an attribute, ``$id`` the element id when present. The
toolkit's flat shape (``{"$tag": tag, "$id": id, ...}``) reads the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ..schema import ID_ATTRIBUTE
from ..tools import TAG_KEY

__all__ = ["Node", "Selector", "SelectorError", "json_equal", "parse_selector", "select", "tree"]


class SelectorError(ValueError):
    """A selector that does not parse."""


@dataclass(eq=False, slots=True)
class Node:
    """One element of a document JSON tree, with its position kept for document order."""

    tag: str
    attributes: dict[str, Any]
    children: list[Node] = field(default_factory=list)
    id: str | None = None
    order: int = 0

    def __getitem__(self, name: str) -> Any:
        """An attribute's value, or None when it is not set."""
        return self.attributes.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)

    def walk(self) -> Iterator[Node]:
        """This node and its descendants in document order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attributes!r}>"


def tree(document: Mapping[str, Any]) -> Node:
    """The document as a tree of :class:`Node`; raises ValueError on a malformed shape.

    Reads both shapes: document JSON (``{tag: {...}}``) and the toolkit's flat elements
    (``{"$tag": tag, ...}``, what ``describe_document`` returns). Other ``$`` keys (``$more``) are
    markers, not attributes.
    """
    counter = iter(range(1 << 62))

    def build(data: Any) -> Node:
        # dict first: documents are plain JSON, and ABC checks cost a lot on trees of thousands.
        mapping = isinstance(data, (dict, Mapping))
        if mapping and isinstance(data.get(TAG_KEY), str):
            tag, body = data[TAG_KEY], data
        elif mapping and len(data) == 1:
            ((tag, body),) = data.items()
        else:
            raise ValueError(
                f"an element must be {{tag: {{...}}}} or {{{TAG_KEY!r}: tag, ...}}; got {data!r}"
            )
        if not isinstance(body, (dict, Mapping)):
            raise ValueError(f"the body of <{tag}> must be an object")
        node = Node(str(tag), {}, order=next(counter))
        for key, value in body.items():
            if key == ID_ATTRIBUTE:
                node.id = value
            elif type(value) is list:
                node.children = [build(child) for child in value]
            elif not key.startswith("$"):
                node.attributes[key] = value
        return node

    return build(document)


_Op = Literal["=", "!=", "*="]


@dataclass(frozen=True, slots=True)
class _Filter:
    name: str
    op: _Op | None
    value: Any

    def accepts(self, node: Node) -> bool:
        if self.name == ID_ATTRIBUTE:
            present, actual = node.id is not None, node.id
        else:
            present, actual = self.name in node.attributes, node.attributes.get(self.name)
        if self.op is None:
            return present
        if self.op == "*=":
            return isinstance(actual, str) and str(self.value) in actual
        equal = present and json_equal(actual, self.value)
        return equal if self.op == "=" else not equal


@dataclass(frozen=True, slots=True)
class _Step:
    combinator: Literal["descendant", "child"]
    tag: str | None
    filters: tuple[_Filter, ...]
    pick: int | None
    """Index into the step's matches (-1 = last), or None to keep them all."""


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector; :meth:`select` applies it to a tree."""

    source: str
    steps: tuple[_Step, ...]

    def select(self, root: Node) -> list[Node]:
        """The matching nodes in document order."""
        current: list[Node] = [root]
        for index, step in enumerate(self.steps):
            candidates: dict[int, Node] = {}
            for context in current:
                pool = (
                    context.walk()
                    if index == 0
                    else (context.children if step.combinator == "child" else _descendants(context))
                )
                for node in pool:
                    if (step.tag is None or node.tag == step.tag) and all(
                        f.accepts(node) for f in step.filters
                    ):
                        candidates[node.order] = node
            matched = [candidates[order] for order in sorted(candidates)]
            if step.pick is not None:
                in_range = -len(matched) <= step.pick < len(matched)
                matched = [matched[step.pick]] if in_range else []
            current = matched
        return current

    def __str__(self) -> str:
        return self.source


def _descendants(node: Node) -> Iterator[Node]:
    for child in node.children:
        yield from child.walk()


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<child>>)
  | (?P<tag>\*|[A-Za-z_][A-Za-z0-9_.-]*)
  | \[\s*(?P<name>\$?[A-Za-z_][A-Za-z0-9_.:-]*)\s*
        (?:(?P<op>=|!=|\*=)\s*(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\]]*?))?\s*\]
  | :(?P<pseudo>first|last|nth\(\s*-?\d+\s*\))
    """,
    re.VERBOSE,
)


def parse_selector(source: str) -> Selector:
    """Parse a selector; raises :class:`SelectorError` saying where it stops making sense."""
    text = source.strip()
    if not text:
        raise SelectorError("the selector is empty")
    steps: list[_Step] = []
    combinator: Literal["descendant", "child"] = "descendant"
    tag: str | None = None
    filters: list[_Filter] = []
    pick: int | None = None
    open_step = False
    position = 0

    def close() -> None:
        nonlocal tag, filters, pick, open_step, combinator
        if open_step:
            steps.append(_Step(combinator, tag, tuple(filters), pick))
            tag, filters, pick, open_step, combinator = None, [], None, False, "descendant"

    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SelectorError(f"cannot read {source!r} at {text[position:]!r}")
        kind = match.lastgroup if match.group("name") is None else "filter"
        if kind == "space":
            close()
        elif kind == "child":
            close()
            if not steps or combinator == "child":
                raise SelectorError(f"{source!r}: '>' must stand between two steps")
            combinator = "child"
        elif kind == "tag":
            if open_step:
                raise SelectorError(f"{source!r}: a step has one tag; put a space or '>' between steps")
            tag, open_step = (None if match.group("tag") == "*" else match.group("tag")), True
        elif kind == "filter":
            if not open_step:
                raise SelectorError(f"{source!r}: a [filter] must follow a tag or '*'")
            op = cast(_Op | None, match.group("op"))
            value = _literal(match.group("value")) if op is not None else None
            filters.append(_Filter(match.group("name"), op, value))
        else:
            if not open_step or pick is not None:
                raise SelectorError(f"{source!r}: one :first/:last/:nth(i) per step, after its tag")
            pseudo = match.group("pseudo")
            pick = 0 if pseudo == "first" else -1 if pseudo == "last" else int(pseudo[4:-1])
        position = match.end()
    close()
    if combinator == "child" or not steps:
        raise SelectorError(f"{source!r}: '>' must stand between two steps")
    return Selector(source, tuple(steps))


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON scalars: ``true`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def select(document: Mapping[str, Any] | Node, selector: str | Selector) -> list[Node]:
    """The nodes of ``document`` (document JSON or a tree) that ``selector`` matches."""
    root = document if isinstance(document, Node) else tree(document)
    parsed = selector if isinstance(selector, Selector) else parse_selector(selector)
    return parsed.select(root)
