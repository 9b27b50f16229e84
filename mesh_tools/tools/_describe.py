"""A document (or a subtree) as JSON for a model: ids included, cut to a depth and a size budget.

The shape is the one the model writes to ``append_child`` (``{"$tag": tag, "$id": id, attribute: value,
<children>: [...]}``); an element's text is a plain string, its marks spans under ``$marks``. Elements
are taken breadth first, so a cut keeps the top of the tree and the first children of each element; an
element whose children were cut carries ``"$more": n`` and ``"$next"``, a continuation token (see
:mod:`._addresses`) that lists the rest from where the cut was, so a parent of any width can be read page
by page.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..document import MARKS_KEY, Element
from ..schema import ID_ATTRIBUTE
from ._addresses import Continuation
from ._arguments import TAG_KEY

__all__ = ["FROM_KEY", "MORE_KEY", "NEXT_KEY", "Description", "describe", "subtree"]

MORE_KEY = "$more"
NEXT_KEY = "$next"
#: On a continued listing: the position of the first child shown.
FROM_KEY = "$from"
# ,"$more":n with up to six digits, and ,"$next":"<id>@<offset>:<anchor id>" with up to seven digits, less
# the two ids, which cost what the element's own id costs (ids have one length).
_MORE_COST = len(',"$more":') + 6 + len(',"$next":""') + 1 + 7 + 1


@dataclass(frozen=True, slots=True)
class Description:
    """The rendered subtree, how many elements it shows, and how many exist under the start element."""

    content: dict[str, Any]
    shown: int
    total: int

    @property
    def hidden(self) -> int:
        return self.total - self.shown


def describe(start: Element, *, depth: int | None, budget: int, first_child: int = 0) -> Description:
    """Render ``start`` and its descendants down to ``depth`` levels within ``budget`` characters.

    The budget bounds the compact JSON of the rendered subtree; the start element is always shown.
    ``first_child`` > 0 continues a cut listing: the start element's children before that position
    are left out (and not counted), and ``"$from"`` says where the listing starts.
    """
    content, used = _body(start)
    if first_child:
        content[FROM_KEY] = first_child
        used += len(',"$from":') + 7
    queue: deque[tuple[Element, dict[str, Any], int, int]] = deque([(start, content, 0, first_child)])
    shown = 1
    hidden: list[Element] = []
    full = False
    while queue:
        element, body, level, offset = queue.popleft()
        child_property = element.element_type.child_property
        if child_property is None:
            continue
        children = element.get_children()[offset:]
        listed: list[dict[str, Any]] = []
        body[child_property.name] = listed
        if not full and (depth is None or level < depth):
            for child in children:
                child_body, cost = _body(child)
                if used + cost > budget:
                    full = True
                    break
                used += cost
                listed.append(child_body)
                queue.append((child, child_body, level + 1, 0))
        shown += len(listed)
        if len(listed) < len(children):
            body[MORE_KEY] = len(children) - len(listed)
            cut = children[len(listed)]
            body[NEXT_KEY] = str(Continuation(element.id, offset + len(listed), cut.id))
            hidden.extend(children[len(listed) :])
    return Description(content, shown, shown + sum(1 + element.count_descendants() for element in hidden))


def _body(element: Element) -> tuple[dict[str, Any], int]:
    """The element's tag, id and attributes in schema order, and what they cost in the output."""
    attributes = element.attributes
    body: dict[str, Any] = {TAG_KEY: element.tag_name, ID_ATTRIBUTE: element.id}
    for name in element.element_type.attributes:
        if name in attributes:
            body[name] = attributes.pop(name)
    body.update(sorted(attributes.items()))
    text_property = element.element_type.text_property
    if text_property is not None:
        body[text_property.name] = element.text
        spans = element.text_marks()
        if spans:
            body[MARKS_KEY] = [span.to_json() for span in spans]
    cost = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False)) + 1  # and a comma
    child_property = element.element_type.child_property
    if child_property is not None:
        cost += len(child_property.name) + 6  # ,"name":[]
        if element.has_children:  # only an element with children can be cut: room for $more and $next
            cost += _MORE_COST + 2 * len(element.id)
    return body, cost


def subtree(element: Element) -> list[Element]:
    """The element and its descendants in document order."""
    out = []
    stack = [element]
    while stack:
        current = stack.pop()
        out.append(current)
        if current.element_type.child_property is not None:  # a leaf needs no CRDT read
            stack.extend(reversed(current.get_children()))
    return out
