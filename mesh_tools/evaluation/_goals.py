"""Whole-state goals: the expected final document, as the starting document plus the changes asked for.

A task's ``goal`` lists every change a correct agent makes; everything it does not name must end
exactly as it started (τ-bench's state check). Selectors are resolved on the starting document and
must match exactly one element there::

    goal:
      - insert: "column[name='To do']"      # a new child of this element
        at: -1                              # its index among the final children (negative: from the
                                            #   end); leave it out when any position will do
        element: {task: {title: Set up analytics, points: 3, done: {$one_of: [false, null]}}}
        unordered: false                    # true: the children inside `element` may come in any order
      - set: "task[title='Choose hosting']"
        attribute: points
        value: 5
      - remove: "task[title='Design new logo']"
        attribute: assignee
      - delete: "task[title='Kick-off meeting']"

``goal: []`` means the document must not change at all (a request to decline, or one already met).

Values in ``set`` and in inserted elements are JSON, ``null`` for "not set", or a matcher for the
variations a correct agent may choose between: ``{$one_of: [a, b, null]}``, ``{$matches: REGEX}``
(searched, case-insensitive), ``{$contains: TEXT}`` (case-insensitive), ``{$any: true}``. An inserted
element's attributes that the spec leaves out must be unset, and its children are compared in order
unless ``unordered: true``. Several inserts under one parent may be found in any order among
themselves.

Scoring compares the starting and final documents by element id, which the room keeps: an element
of the start that is gone, an attribute that differs, or a new subtree is either something the goal
asked for (and must then match it) or **collateral damage**. :func:`judge_goal` returns what was
missed and what was damaged, each as a line a person can read.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, Tag, field_validator

from ..schema import MeshSchema
from ._checks import valid_selector
from ._keyed_union import by_key
from ._selectors import Node, json_equal, select, tree

__all__ = [
    "DeleteChange",
    "GoalChange",
    "GoalOutcome",
    "InsertChange",
    "RemoveChange",
    "SetChange",
    "goal_problems",
    "judge_goal",
    "value_matches",
]

_MATCHERS = ("$any", "$one_of", "$matches", "$contains")


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @abstractmethod
    def target(self) -> str:
        """The selector of the element this change is about."""


def _matcher_shape(value: Any) -> None:
    """Raise ValueError when a matcher is malformed (anywhere inside ``value``)."""
    if isinstance(value, dict):
        keys = [key for key in value if key in _MATCHERS]
        if keys:
            if len(value) != 1:
                raise ValueError(
                    f"a matcher has exactly one key of {', '.join(_MATCHERS)}; got {list(value)}"
                )
            (key,) = keys
            argument = value[key]
            if key == "$any" and argument is not True:
                raise ValueError("$any takes true")
            if key == "$one_of" and (not isinstance(argument, list) or not argument):
                raise ValueError("$one_of takes a non-empty list")
            if key in ("$matches", "$contains") and not isinstance(argument, str):
                raise ValueError(f"{key} takes a string")
            if key == "$matches":
                try:
                    re.compile(argument)
                except re.error as error:
                    raise ValueError(f"$matches {argument!r} is not a regular expression: {error}") from error
            return
        for sub in value.values():
            _matcher_shape(sub)
    elif isinstance(value, list):
        for sub in value:
            _matcher_shape(sub)


def _matchers(value: JsonValue) -> JsonValue:
    _matcher_shape(value)
    return value


class SetChange(_Change):
    """An attribute of an existing element ends with this value (or one the matcher accepts)."""

    set: str
    attribute: Annotated[str, Field(min_length=1)]
    value: JsonValue

    _valid_selector = field_validator("set")(valid_selector)
    _valid_value = field_validator("value")(_matchers)

    def target(self) -> str:
        return self.set


class RemoveChange(_Change):
    """An attribute of an existing element ends unset."""

    remove: str
    attribute: Annotated[str, Field(min_length=1)]

    _valid_selector = field_validator("remove")(valid_selector)

    def target(self) -> str:
        return self.remove


class DeleteChange(_Change):
    """An existing element (and its subtree) is gone."""

    delete: str

    _valid_selector = field_validator("delete")(valid_selector)

    def target(self) -> str:
        return self.delete


class InsertChange(_Change):
    """A new subtree under an existing element."""

    insert: str
    element: dict[str, JsonValue]
    at: int | None = None
    """Index among the parent's final children (negative from the end); None for anywhere."""
    unordered: bool = False

    _valid_selector = field_validator("insert")(valid_selector)
    _valid_element = field_validator("element")(_matchers)

    def target(self) -> str:
        return self.insert


#: One change of a goal, told apart by its key.
GoalChange = Annotated[
    Annotated[SetChange, Tag("set")]
    | Annotated[RemoveChange, Tag("remove")]
    | Annotated[DeleteChange, Tag("delete")]
    | Annotated[InsertChange, Tag("insert")],
    by_key(("set", "remove", "delete", "insert"), error_type="unknown_change", what="a goal change"),
]


# -- checking a goal against its task when the suite loads -------------------------------------


def goal_problems(changes: Sequence[GoalChange], start: Mapping[str, Any], schema: MeshSchema) -> list[str]:
    """What is wrong with a goal on its starting document: selectors, tags, attributes, duplicates."""
    problems: list[str] = []
    root = tree(start)
    named: set[tuple[int, str]] = set()
    for index, change in enumerate(changes):
        where = f"goal[{index}]"
        matches = select(root, change.target())
        if len(matches) != 1:
            problems.append(
                f"{where}: {change.target()!r} must match exactly one element of the starting document; "
                f"it matches {len(matches)}"
            )
            continue
        node = matches[0]
        if isinstance(change, SetChange | RemoveChange):
            if change.attribute not in schema.element(node.tag).attributes:
                problems.append(f"{where}: <{node.tag}> has no attribute {change.attribute!r}")
            key = (node.order, change.attribute)
            if key in named:
                problems.append(f"{where}: {change.attribute!r} of {change.target()!r} is named twice")
            named.add(key)
        elif isinstance(change, InsertChange):
            problems += [
                f"{where}: {problem}" for problem in _spec_problems(change.element, node.tag, schema)
            ]
    return problems


def _spec_problems(spec: Mapping[str, Any], parent_tag: str, schema: MeshSchema) -> list[str]:
    if len(spec) != 1:
        return [f"an element is {{tag: {{attributes..., children: [...]}}}}; got keys {list(spec)}"]
    ((tag, body),) = spec.items()
    if tag not in schema:
        return [f"unknown tag {tag!r}"]
    if not schema.element(parent_tag).allows_child(tag):
        return [f"<{parent_tag}> does not take <{tag}> children"]
    element = schema.element(tag)
    if not isinstance(body, Mapping):
        return [f"the body of <{tag}> must be an object"]
    problems = []
    child_name = element.child_property.name if element.child_property is not None else None
    for key, value in body.items():
        if key == child_name and isinstance(value, list):
            for child in value:
                problems += (
                    _spec_problems(child, tag, schema)
                    if isinstance(child, Mapping)
                    else [f"a child of <{tag}> must be an element"]
                )
        elif key not in element.attributes:
            problems.append(f"<{tag}> has no attribute {key!r}")
    return problems


# -- judging a final document -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoalOutcome:
    """How the final document compares with the goal: changes missed and collateral damage."""

    missed: tuple[str, ...]
    """Changes the goal asks for that the final document does not show."""
    collateral: tuple[str, ...]
    """Changes the final document shows that the goal does not ask for."""

    @property
    def achieved(self) -> bool:
        return not self.missed and not self.collateral


def value_matches(expected: Any, actual: Any, present: bool = True) -> bool:
    """Whether an attribute value (``present`` False: unset) satisfies an expected value or matcher."""
    if isinstance(expected, Mapping) and len(expected) == 1:
        ((key, argument),) = expected.items()
        if key == "$any":
            return True
        if key == "$one_of":
            return any(value_matches(option, actual, present) for option in argument)
        if key == "$matches":
            return (
                present and isinstance(actual, str) and re.search(argument, actual, re.IGNORECASE) is not None
            )
        if key == "$contains":
            return present and isinstance(actual, str) and argument.casefold() in actual.casefold()
    if expected is None:
        return not present
    return present and json_equal(actual, expected)


def label(node: Node) -> str:
    """An element as a person recognizes it: its tag and its first text attribute."""
    text = next(((name, value) for name, value in node.attributes.items() if isinstance(value, str)), None)
    if text is None:
        return f"<{node.tag}>"
    shown = text[1] if len(text[1]) <= 40 else text[1][:37] + "..."
    return f"<{node.tag} {text[0]}={shown!r}>"


@dataclass(frozen=True, slots=True)
class _Resolved:
    deletes: set[str]
    attributes: dict[tuple[str, str], Any]
    """(element id, attribute) -> expected value or matcher (None: unset)."""
    inserts: dict[str, list[InsertChange]]
    """Parent id -> the inserts under it."""


def _resolve(changes: Sequence[GoalChange], start: Node) -> _Resolved:
    resolved = _Resolved(set(), {}, {})
    for change in changes:
        (node,) = select(start, change.target())
        if node.id is None:
            raise ValueError("goals are judged on documents with element ids")
        if isinstance(change, SetChange):
            resolved.attributes[(node.id, change.attribute)] = change.value
        elif isinstance(change, RemoveChange):
            resolved.attributes[(node.id, change.attribute)] = None
        elif isinstance(change, DeleteChange):
            resolved.deletes.add(node.id)
        else:
            resolved.inserts.setdefault(node.id, []).append(change)
    return resolved


def judge_goal(
    changes: Sequence[GoalChange], start: Mapping[str, Any] | Node, final: Mapping[str, Any] | Node
) -> GoalOutcome:
    """Compare the final document with the starting one plus ``changes``; both documents carry ids.

    Either may be given as document JSON or as its :func:`~.selectors.tree`.
    """
    start_root = start if isinstance(start, Node) else tree(start)
    final_root = final if isinstance(final, Node) else tree(final)
    goal = _resolve(changes, start_root)
    before = {node.id: node for node in start_root.walk() if node.id is not None}
    after = {node.id: node for node in final_root.walk() if node.id is not None}
    missed: list[str] = []
    collateral: list[str] = []

    parents = {child.id: node for node in start_root.walk() for child in node.children}
    for element_id, node in before.items():
        if element_id in after or any(a in goal.deletes for a in _ancestry(element_id, parents)):
            continue
        parent = parents.get(element_id)
        # Only the top of a deleted subtree is reported.
        if parent is None or parent.id in after:
            collateral.append(f"deleted {label(node)}")
    for element_id in goal.deletes:
        if element_id in after:
            missed.append(f"{label(before[element_id])} should be deleted")
    for element_id, node in before.items():
        now = after.get(element_id)
        if now is None:
            continue
        # An attribute the goal sets may be unset both before and after: it must be looked at too.
        named = {name for (target, name) in goal.attributes if target == element_id}
        for name in sorted(set(node.attributes) | set(now.attributes) | named):
            key = (element_id, name)
            present, value = name in now.attributes, now.attributes.get(name)
            if key in goal.attributes:
                if not value_matches(goal.attributes[key], value, present):
                    shown = repr(value) if present else "unset"
                    missed.append(f"{label(node)}.{name} is {shown}, expected {_show(goal.attributes[key])}")
            elif not (present == (name in node.attributes) and json_equal(value, node.attributes.get(name))):
                was = repr(node.attributes[name]) if name in node.attributes else "unset"
                collateral.append(
                    f"{label(node)}.{name} changed from {was} to {repr(value) if present else 'unset'}"
                )
    for (element_id, name), expected in goal.attributes.items():
        if element_id not in after and element_id not in goal.deletes:
            missed.append(f"{label(before[element_id])} is gone, so {name} cannot be {_show(expected)}")
    for parent_id, now in after.items():
        if parent_id not in before:
            continue
        fresh = [(index, child) for index, child in enumerate(now.children) if child.id not in before]
        wanted = goal.inserts.get(parent_id, [])
        pairs = _assign(wanted, fresh, len(now.children))
        for number, change in enumerate(wanted):
            if number not in pairs:
                where = "" if change.at is None else f" at {change.at}"
                missed.append(
                    f"no {_spec_label(change.element)} inserted{where} under {label(before[parent_id])}"
                )
        used = set(pairs.values())
        for slot, (_, child) in enumerate(fresh):
            if slot not in used:
                collateral.append(f"inserted {label(child)} under {label(before[parent_id])}")
    for parent_id, wanted in goal.inserts.items():
        if parent_id not in after:
            missed += [
                f"{label(before[parent_id])} is gone, so nothing could be inserted in it" for _ in wanted
            ]
    return GoalOutcome(tuple(missed), tuple(collateral))


def _ancestry(element_id: str | None, parents: Mapping[str | None, Node]) -> list[str | None]:
    chain: list[str | None] = []
    current = element_id
    while current is not None:
        chain.append(current)
        parent = parents.get(current)
        current = parent.id if parent is not None else None
    return chain


def _show(expected: Any) -> str:
    return "unset" if expected is None else repr(expected)


def _spec_label(spec: Mapping[str, Any]) -> str:
    ((tag, body),) = spec.items()
    text = (
        next(((k, v) for k, v in body.items() if isinstance(v, str)), None)
        if isinstance(body, Mapping)
        else None
    )
    return f"<{tag}>" if text is None else f"<{tag} {text[0]}={text[1]!r}>"


def _assign(wanted: Sequence[InsertChange], fresh: Sequence[tuple[int, Node]], size: int) -> dict[int, int]:
    """A largest matching of expected inserts to new children (Kuhn's augmenting paths)."""
    fits = [
        [
            slot
            for slot, (index, node) in enumerate(fresh)
            if (change.at is None or index == (change.at if change.at >= 0 else size + change.at))
            and _subtree_matches(change.element, node, change.unordered)
        ]
        for change in wanted
    ]
    owner: dict[int, int] = {}

    def augment(change: int, seen: set[int]) -> bool:
        for slot in fits[change]:
            if slot in seen:
                continue
            seen.add(slot)
            if slot not in owner or augment(owner[slot], seen):
                owner[slot] = change
                return True
        return False

    for change in range(len(wanted)):
        augment(change, set())
    return {change: slot for slot, change in owner.items()}


def _subtree_matches(spec: Mapping[str, Any], node: Node, unordered: bool) -> bool:
    ((tag, body),) = spec.items()
    if node.tag != tag or not isinstance(body, Mapping):
        return False
    children: list[Any] = []
    expected: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, list):
            children = value
        else:
            expected[key] = value
    for name in set(expected) | set(node.attributes):
        if not value_matches(expected.get(name), node.attributes.get(name), name in node.attributes):
            return False
    if len(children) != len(node.children):
        return False
    if not unordered:
        return all(
            _subtree_matches(child, actual, False)
            for child, actual in zip(children, node.children, strict=True)
        )
    remaining = list(node.children)
    for child in children:
        found = next((actual for actual in remaining if _subtree_matches(child, actual, True)), None)
        if found is None:
            return False
        remaining.remove(found)
    return True
