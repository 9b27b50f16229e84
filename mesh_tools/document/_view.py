"""Document JSON drawn as a rich tree, for ``mesh-tools room sync show --tree`` and the agents' live view.

It reads plain document JSON (``{tag: {attribute: value, ..., <child property>: [child, ...]}}``, as
``to_json`` and ``sync.describe`` give it), so it needs neither a replica nor the agent machinery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from ..schema import ID_ATTRIBUTE

__all__ = ["document_tree", "shorten"]

_TEXT_WIDTH = 72
# Attributes that hold prose: shown as their quoted text alone, the way a reader thinks of them.
_TEXT_ATTRIBUTES = frozenset({"text", "title", "name"})


def document_tree(
    content: Mapping[str, Any],
    *,
    path: str | None = None,
    max_depth: int | None = None,
    detail: bool = False,
) -> Tree:
    """Document JSON as a rich tree, under the document's ``path`` if given, else under its root element.

    Elements deeper than ``max_depth`` are summed up as a count. Without ``detail`` text-like attributes
    are quoted and shortened and ids are left out, to fit a glance; with ``detail`` every attribute is
    shown in full as ``name=value`` and every element ends with its ``#id``, for a person who edits by id.
    """
    ((tag, body),) = content.items()
    if path is None:
        tree = Tree(_element_label(tag, body, detail))
        _add_children(tree, body, 1, max_depth, detail)
    else:
        tree = Tree(f"[bold]{escape(path)}[/bold]")
        _add_element(tree, tag, body, 1, max_depth, detail)
    return tree


def shorten(text: str, width: int = _TEXT_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _element_label(tag: str, body: Mapping[str, Any], detail: bool) -> str:
    parts = [f"[cyan]{escape(tag)}[/cyan]"]
    for name, value in body.items():
        if name == ID_ATTRIBUTE or _is_children(value):
            continue
        shown = f"{escape(name)}={escape(json.dumps(value, ensure_ascii=False))}"
        if detail:
            parts.append(shown)
        elif isinstance(value, str) and name in _TEXT_ATTRIBUTES:
            parts.append(escape(json.dumps(shorten(value), ensure_ascii=False)))
        else:
            parts.append(f"[dim]{shown}[/dim]")
    if detail and ID_ATTRIBUTE in body:
        parts.append(f"[dim]#{escape(str(body[ID_ATTRIBUTE]))}[/dim]")
    return " ".join(parts)


def _add_element(
    parent: Tree, tag: str, body: Mapping[str, Any], depth: int, max_depth: int | None, detail: bool
) -> None:
    node = parent.add(_element_label(tag, body, detail))
    _add_children(node, body, depth + 1, max_depth, detail)


def _add_children(
    node: Tree, body: Mapping[str, Any], depth: int, max_depth: int | None, detail: bool
) -> None:
    for value in body.values():
        if not _is_children(value) or not value:
            continue
        if max_depth is not None and depth > max_depth:
            node.add(f"[dim]… {len(value)} {'child' if len(value) == 1 else 'children'}[/dim]")
            continue
        for child in value:
            ((child_tag, child_body),) = child.items()
            _add_element(node, child_tag, child_body, depth, max_depth, detail)


def _is_children(value: Any) -> bool:
    # A child list is a list of one-key objects ({tag: body}); any other value is an attribute.
    return isinstance(value, list) and all(isinstance(item, dict) and len(item) == 1 for item in value)
