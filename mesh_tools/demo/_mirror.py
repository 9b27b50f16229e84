"""The document as an agent knows it from its conversation, without reading it again.

A model that reads a document once can keep it current from what it sees afterwards: its own
successful edits (it knows what it sent, and ``append_child`` returns the new ids) and the change
feed (others' inserts with their content, set and removed attributes, deletions), which
``changes_since`` and ``wait_for_changes`` answer and every edit's result carries as ``changes``.
:func:`known_document` replays exactly that over the latest full read, so the scripted roles work the
way the tools ask a model to: read once, then follow the feed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from ..agent import Conversation, ToolExchange
from ..document import ROOT_ID
from ..schema import ID_ATTRIBUTE
from ..tools import ToolName

__all__ = ["known_document", "latest_version"]


def known_document(conversation: Conversation) -> dict[str, Any] | None:
    """The root element as the agent's last full read plus everything after it shows; None before a read."""
    start = _last_full_read(conversation)
    if start is None:
        return None
    root: dict[str, Any] = copy.deepcopy(start.result["element"])
    index = dict(_index(root, None))
    for exchange in conversation.exchanges[conversation.exchanges.index(start) + 1 :]:
        result = exchange.result
        if not isinstance(result, dict) or result.get("ok") is not True:
            continue
        arguments = exchange.parsed_arguments or {}
        if exchange.name == ToolName.APPEND_CHILD:
            element = _with_ids(copy.deepcopy(arguments["element"]), iter(result["ids"]))
            _insert(index, arguments["parent_id"], element, arguments.get("position"))
        elif exchange.name == ToolName.SET_ATTRIBUTE:
            _set(index, arguments["id"], arguments["attribute"]["name"], arguments["attribute"]["value"])
        elif exchange.name == ToolName.REMOVE_ATTRIBUTE:
            _set(index, arguments["id"], arguments["name"], None)
        elif exchange.name == ToolName.DELETE_ELEMENT:
            _delete(index, arguments["id"])
        for change in result.get("changes", ()):
            _apply(index, change)
    return root


def latest_version(conversation: Conversation) -> str | None:
    """The version of the agent's latest successful call, which carries what it has seen."""
    for exchange in reversed(conversation.exchanges):
        result = exchange.result
        if isinstance(result, dict) and result.get("ok") is True and isinstance(result.get("version"), str):
            return str(result["version"])
    return None


def _last_full_read(conversation: Conversation) -> ToolExchange | None:
    for exchange in reversed(conversation.exchanges):
        arguments = exchange.parsed_arguments or {}
        result = exchange.result
        if (
            exchange.name == ToolName.DESCRIBE_DOCUMENT
            and arguments.get("id") == ROOT_ID
            and isinstance(result, dict)
            and result.get("ok") is True
        ):
            return exchange
    return None


# The index maps an id to (element, parent element); children are under "children" in this schema.
_Index = dict[str, tuple[dict[str, Any], dict[str, Any] | None]]


def _index(
    element: dict[str, Any], parent: dict[str, Any] | None
) -> Iterator[tuple[str, tuple[dict[str, Any], dict[str, Any] | None]]]:
    yield element[ID_ATTRIBUTE], (element, parent)
    for child in element.get("children", []):
        yield from _index(child, element)


def _with_ids(element: dict[str, Any], ids: Iterator[str]) -> dict[str, Any]:
    """The argument element with the ids ``append_child`` returned, which come in document order."""
    out: dict[str, Any] = {ID_ATTRIBUTE: next(ids)}
    out.update((name, value) for name, value in element.items() if value is not None)
    if "children" in element:
        out["children"] = [_with_ids(child, ids) for child in element["children"]]
    return out


def _insert(index: _Index, parent_id: str, element: dict[str, Any], position: int | None) -> None:
    found = index.get(parent_id)
    if found is None:
        return
    children = found[0].setdefault("children", [])
    children.insert(len(children) if position is None else position, element)
    index.update(_index(element, found[0]))


def _set(index: _Index, element_id: str, name: str, value: Any) -> None:
    found = index.get(element_id)
    if found is None:
        return
    if value is None:
        found[0].pop(name, None)
    else:
        found[0][name] = value


def _delete(index: _Index, element_id: str) -> None:
    found = index.pop(element_id, None)
    if found is None:
        return
    element, parent = found
    if parent is None:
        return
    parent["children"] = [child for child in parent.get("children", []) if child is not element]


def _apply(index: _Index, change: dict[str, Any]) -> None:
    op = change["op"]
    if op == "insert":
        position = int(change["path"].rsplit("[", 1)[1].rstrip("]"))
        _insert(index, change["parent"], change["element"], position)
    elif op in ("set", "remove"):
        _set(index, change["id"], change["name"], change.get("value"))
    else:
        for element_id in change["ids"]:
            _delete(index, element_id)
