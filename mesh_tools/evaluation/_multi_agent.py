"""Multi-agent measures of one episode: concurrent conflicts, lost intents and replica convergence.

- A *concurrent conflict* is a pair of accepted writes by different agents to the same element within
  ``window_s`` seconds of each other. The element a write touches is its ``id`` (set, remove, delete)
  or its ``parent_id`` (append: the parent's child list). It measures interference, not damage: the
  CRDT merges both edits, and whether that was what both agents meant is what lost intents measure.
- An *intent* is the last accepted write of an agent to one thing: an attribute (set or remove), an
  inserted subtree, a deletion. It is *lost* when the final document does not show it and the agent
  did not undo it itself: another agent overwrote the attribute, or deleted the element (or an
  ancestor) the agent wrote.
- *Convergence*: every replica (each agent's and an observer's) ends with the server's document JSON,
  ids included (the team runner checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..tools import ToolName
from ._calls import ClassifiedCall
from ._report_data import EpisodeMultiAgentData
from ._selectors import Node, json_equal, tree

__all__ = ["DEFAULT_CONFLICT_WINDOW_S", "MultiAgentStats", "measure_multi_agent"]

#: Two writes closer than this to each other are concurrent.
DEFAULT_CONFLICT_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class MultiAgentStats:
    """The multi-agent measures of one episode."""

    writes: int
    """Accepted writes, all agents together."""
    conflict_pairs: int
    conflicting_writes: int
    """Accepted writes that are part of at least one conflict."""
    intents: int
    lost_intents: int
    lost: tuple[str, ...]
    """A line per lost intent: who wanted what."""
    converged: bool
    replicas: int

    def to_dict(self) -> EpisodeMultiAgentData:
        return {
            "writes": self.writes,
            "conflict_pairs": self.conflict_pairs,
            "conflicting_writes": self.conflicting_writes,
            "intents": self.intents,
            "lost_intents": self.lost_intents,
            "lost": list(self.lost),
            "converged": self.converged,
            "replicas": self.replicas,
        }


def measure_multi_agent(
    calls: Sequence[ClassifiedCall],
    *,
    start: Mapping[str, Any],
    final: Mapping[str, Any],
    converged: bool,
    replicas: int,
    window_s: float = DEFAULT_CONFLICT_WINDOW_S,
) -> MultiAgentStats:
    """Measure an episode from its classified calls, the documents (JSON with ids) and convergence."""
    writes = sorted((c for c in calls if c.write and c.ok), key=lambda c: c.started_at)
    pairs, involved = _conflicts(writes, window_s)
    intents, lost = _lost_intents(writes, start, final)
    return MultiAgentStats(
        writes=len(writes),
        conflict_pairs=pairs,
        conflicting_writes=involved,
        intents=intents,
        lost_intents=len(lost),
        lost=tuple(lost),
        converged=converged,
        replicas=replicas,
    )


def _touched(call: ClassifiedCall) -> str | None:
    arguments = call.parsed_arguments()
    if not isinstance(arguments, dict):
        return None
    key = "parent_id" if call.tool.endswith(ToolName.APPEND_CHILD) else "id"
    value = arguments.get(key)
    return value if isinstance(value, str) else None


def _conflicts(writes: Sequence[ClassifiedCall], window_s: float) -> tuple[int, int]:
    pairs = 0
    involved: set[int] = set()
    for i, first in enumerate(writes):
        node = _touched(first)
        for j in range(i + 1, len(writes)):
            second = writes[j]
            if second.started_at - first.started_at > window_s:
                break
            if second.agent != first.agent and node is not None and _touched(second) == node:
                pairs += 1
                involved.update((i, j))
    return pairs, len(involved)


def _lost_intents(
    writes: Sequence[ClassifiedCall], start: Mapping[str, Any], final: Mapping[str, Any]
) -> tuple[int, list[str]]:
    parents = _parents(tree(start))
    for call in writes:
        # An append_child's ids are one subtree under its parent_id; a batch's inserts are not.
        if call.created_ids and call.tool.endswith(ToolName.APPEND_CHILD):
            parent = _touched(call)
            head = call.created_ids[0]
            parents[head] = parent
            parents.update({created: head for created in call.created_ids[1:]})
    alive = {node.id: node for node in tree(final).walk() if node.id is not None}
    deleted_by: dict[str, set[str]] = {}
    for call in writes:
        target = _touched(call)
        if call.tool.endswith(ToolName.DELETE_ELEMENT) and target is not None:
            deleted_by.setdefault(call.agent, set()).add(target)

    def undone_by(agent: str, element_id: str) -> bool:
        mine = deleted_by.get(agent, set())
        current: str | None = element_id
        while current is not None:
            if current in mine:
                return True
            current = parents.get(current)
        return False

    last: dict[tuple[str, str, str, str], ClassifiedCall] = {}
    for call in writes:
        arguments = call.parsed_arguments()
        target = _touched(call)
        if target is None or not isinstance(arguments, dict):
            continue
        if call.tool.endswith((ToolName.SET_ATTRIBUTE, ToolName.REMOVE_ATTRIBUTE)):
            attribute = arguments.get("attribute")
            name = attribute.get("name") if isinstance(attribute, dict) else arguments.get("name")
            last[(call.agent, "attribute", target, str(name))] = call
        elif call.tool.endswith(ToolName.APPEND_CHILD) and call.created_ids:
            last[(call.agent, "insert", call.created_ids[0], "")] = call
        elif call.tool.endswith(ToolName.DELETE_ELEMENT):
            last[(call.agent, "delete", target, "")] = call
    lost: list[str] = []
    for (agent, kind, element_id, name), call in last.items():
        node = alive.get(element_id)
        if kind == "delete":
            if node is not None:
                lost.append(f"{agent}: deleted {element_id}, which is still there")
        elif node is None:
            if not undone_by(agent, element_id):
                what = f"{name} of {element_id}" if kind == "attribute" else f"inserted {element_id}"
                lost.append(f"{agent}: {what}, but the element is gone")
        elif kind == "attribute" and not _attribute_holds(call, node, name):
            lost.append(f"{agent}: {call.tool} {name} of {element_id}, now {node.attributes.get(name)!r}")
    return len(last), lost


def _attribute_holds(call: ClassifiedCall, node: Node, name: str) -> bool:
    if call.tool.endswith(ToolName.REMOVE_ATTRIBUTE):
        return name not in node.attributes
    value = call.parsed_arguments()["attribute"]["value"]
    return json_equal(node.attributes.get(name), value)


def _parents(root: Node) -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    stack: list[tuple[Node, str | None]] = [(root, None)]
    while stack:
        node, parent = stack.pop()
        if node.id is not None:
            parents[node.id] = parent
        stack.extend((child, node.id) for child in node.children)
    return parents
