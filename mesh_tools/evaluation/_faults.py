"""The fault model (``--model faulty``): reference solutions with known-bad tool calls injected.

Each agent of a task plays its reference with faults inserted right after its first read of the
document, one turn for all of them (parallel calls), then carries on with the reference: the episode
also measures recovery. The stale-id fault waits for another agent's delete and comes before the
agent's last edit (after its own deletes, if it makes any). Every fault has the outcome the
classifier must give it:

=================  =====================================================  =====================
fault              call                                                   expected outcome
=================  =====================================================  =====================
malformed_json     a write tool with truncated JSON arguments             malformed_arguments
unknown_tool       ``insert_element``, which no toolkit offers            unknown_tool
invented_id        ``delete_element`` of an id that never existed         invented_id
wrong_type         an attribute value of a JSON type the schema never     tool_schema
                   declares for that attribute name
unknown_tag        ``append_child`` of a tag the schema does not define   tool_schema
tag_not_allowed    ``append_child`` of a real tag under a parent that     document_schema
                   does not take it
stale_id           after another agent's reference deleted an element     stale_id
                   and this agent has seen it gone: an edit of its id
=================  =====================================================  =====================

Faults are built from the schema and the starting document (with its ids), never from the
classifier, so the check that each one is classified as expected is independent of it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..agent import ToolCall
from ..document import ROOT_ID
from ..schema import ElementType, MeshSchema, ValueProperty
from ..tools import TAG_KEY, WRITE_TOOLS, ToolName
from ._calls import CallOutcome, ClassifiedCall
from ._reference import PlayedStep, RawStep, SayStep, WaitCondition, WaitStep, step_calls
from ._selectors import Node, select, tree

__all__ = [
    "FaultKind",
    "FaultPlan",
    "FaultTally",
    "InjectedFault",
    "deleted_selectors",
    "plan_faults",
    "tally_faults",
]

#: An id that cannot exist: 8 base32 characters, drawn by no replica (2^-40 odds per element).
INVENTED_ID = "qqqqzzzz"
_UNKNOWN_TOOL = "insert_element"
_UNKNOWN_TAG = "marquee"
_APPEND = ToolName.APPEND_CHILD
# Turns a stale-id fault waits for another agent's delete to arrive before giving up.
_MAX_POLLS = 100


class FaultKind(StrEnum):
    """A kind of bad call the fault model makes."""

    MALFORMED_JSON = "malformed_json"
    UNKNOWN_TOOL = "unknown_tool"
    INVENTED_ID = "invented_id"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_TAG = "unknown_tag"
    TAG_NOT_ALLOWED = "tag_not_allowed"
    STALE_ID = "stale_id"

    @property
    def expected(self) -> CallOutcome:
        """The classification a correct classifier gives this fault."""
        return _EXPECTED[self]


_EXPECTED = {
    FaultKind.MALFORMED_JSON: CallOutcome.MALFORMED_ARGUMENTS,
    FaultKind.UNKNOWN_TOOL: CallOutcome.UNKNOWN_TOOL,
    FaultKind.INVENTED_ID: CallOutcome.INVENTED_ID,
    FaultKind.WRONG_TYPE: CallOutcome.TOOL_SCHEMA,
    FaultKind.UNKNOWN_TAG: CallOutcome.TOOL_SCHEMA,
    FaultKind.TAG_NOT_ALLOWED: CallOutcome.DOCUMENT_SCHEMA,
    FaultKind.STALE_ID: CallOutcome.STALE_ID,
}


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """One bad call, as it goes on the wire."""

    kind: FaultKind
    agent: str
    call: ToolCall

    def matches(self, call: ClassifiedCall) -> bool:
        return (
            call.agent == self.agent
            and call.tool == self.call.name
            and call.arguments == self.call.arguments_json()
        )


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """An agent's reference with its faults in place."""

    agent: str
    steps: tuple[PlayedStep, ...]
    faults: tuple[InjectedFault, ...]
    extra_turns: int
    """Model turns the faults add to the reference, at most (waiting included)."""


def plan_faults(
    *,
    agent: str,
    tools: Sequence[str],
    reference: Sequence[PlayedStep],
    schema: MeshSchema,
    start: Mapping[str, Any],
    deleted_by_others: Sequence[str] = (),
) -> FaultPlan:
    """Insert every fault the agent's ``tools`` can make into its ``reference``.

    ``start`` is the starting document JSON *with ids*; ``deleted_by_others`` the selectors of
    elements the other agents' references delete (candidates for a stale id).
    """
    root = tree(start)
    builders = {
        FaultKind.MALFORMED_JSON: _malformed,
        FaultKind.UNKNOWN_TOOL: _unknown_tool,
        FaultKind.INVENTED_ID: _invented_id,
        FaultKind.WRONG_TYPE: _wrong_type,
        FaultKind.UNKNOWN_TAG: _unknown_tag,
        FaultKind.TAG_NOT_ALLOWED: _tag_not_allowed,
    }
    faults: list[InjectedFault] = []
    for kind, build in builders.items():
        call = build(set(tools), schema, root)
        if call is not None:
            faults.append(InjectedFault(kind, agent, call))
    at = _after_first_read(reference)
    steps: list[PlayedStep] = list(reference)
    extra = 0
    if faults:
        steps.insert(at, RawStep(tuple(fault.call for fault in faults)))
        extra += 1
    stale = _stale(set(tools), schema, root, deleted_by_others)
    if stale is not None:
        element_id, call = stale
        gone = WaitStep(
            wait=WaitCondition(selector=f"*[$id={element_id}]", present=False, max_polls=_MAX_POLLS)
        )
        at = _stale_position(steps)
        steps[at:at] = [gone, RawStep((call,))]
        faults.append(InjectedFault(FaultKind.STALE_ID, agent, call))
        extra += _MAX_POLLS + 1
    return FaultPlan(agent, tuple(steps), tuple(faults), extra)


def deleted_selectors(reference: Sequence[PlayedStep]) -> list[str]:
    """Selectors of the elements a reference deletes with ``delete_element {id: {$select: ...}}``."""
    found = []
    for step in reference:
        for call in step_calls(step):
            target = call.args.get("id")
            if (
                call.call.endswith(ToolName.DELETE_ELEMENT)
                and isinstance(target, dict)
                and "$select" in target
            ):
                found.append(str(target["$select"]))
    return found


def _stale_position(steps: Sequence[PlayedStep]) -> int:
    """Where the stale-id fault goes: before the agent's last write, so a valid edit follows it.

    An agent that deletes something itself waits only after its own deletes instead: two agents each
    waiting for the other's delete before making their own would wait forever.
    """
    writes = [index for index, step in enumerate(steps) if _uses(step, WRITE_TOOLS)]
    deletes = [index for index, step in enumerate(steps) if _uses(step, {ToolName.DELETE_ELEMENT})]
    if deletes:
        return max(deletes) + 1
    if writes:
        return writes[-1]
    return len(steps) - 1 if steps and isinstance(steps[-1], SayStep) else len(steps)


def _uses(step: PlayedStep, tools: Collection[str]) -> bool:
    return any(call.call in tools for call in step_calls(step))


def _after_first_read(reference: Sequence[PlayedStep]) -> int:
    for index, step in enumerate(reference):
        if isinstance(step, WaitStep):
            return index + 1
        if any(call.call.endswith(ToolName.DESCRIBE_DOCUMENT) for call in step_calls(step)):
            return index + 1
    return 0


# -- one builder per fault ---------------------------------------------------------------------


def _malformed(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    tool = next((t for t in (ToolName.SET_ATTRIBUTE, _APPEND, ToolName.DELETE_ELEMENT) if t in tools), None)
    return None if tool is None else ToolCall(tool, '{"id": "root", "attribute": {"name": ')


def _unknown_tool(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    return ToolCall(_UNKNOWN_TOOL, {"parent_id": ROOT_ID, "tag": "section"})


def _invented_id(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    if ToolName.DELETE_ELEMENT in tools:
        return ToolCall(ToolName.DELETE_ELEMENT, {"id": INVENTED_ID})
    setter = _valid_setter(schema)
    if ToolName.SET_ATTRIBUTE in tools and setter is not None:
        return ToolCall(ToolName.SET_ATTRIBUTE, {"id": INVENTED_ID, "attribute": setter})
    return None


def _wrong_type(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    for element in schema.elements:
        for prop in element.attributes.values():
            wrong = _wrong_value(schema, prop.name)
            if wrong is None:
                continue
            if ToolName.SET_ATTRIBUTE in tools:
                return ToolCall(
                    ToolName.SET_ATTRIBUTE, {"id": ROOT_ID, "attribute": {"name": prop.name, "value": wrong}}
                )
            if _APPEND in tools and _insertable(schema, element.tag_name):
                body = _empty_body(element) | {prop.name: wrong}
                return ToolCall(_APPEND, {"parent_id": ROOT_ID, "position": None, "element": body})
    return None


def _unknown_tag(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    if _APPEND not in tools:
        return None
    return ToolCall(_APPEND, {"parent_id": ROOT_ID, "position": None, "element": {TAG_KEY: _UNKNOWN_TAG}})


def _tag_not_allowed(tools: set[str], schema: MeshSchema, root: Node) -> ToolCall | None:
    if _APPEND not in tools:
        return None
    insertable = [element for element in schema.elements if _insertable(schema, element.tag_name)]
    for parent in root.walk():
        parent_type = schema.element(parent.tag)
        for element in insertable:
            if not parent_type.allows_child(element.tag_name) and parent.id is not None:
                body = _empty_body(element)
                return ToolCall(_APPEND, {"parent_id": parent.id, "position": None, "element": body})
    return None


def _stale(
    tools: set[str], schema: MeshSchema, root: Node, deleted_by_others: Sequence[str]
) -> tuple[str, ToolCall] | None:
    for selector in deleted_by_others:
        matches = select(root, selector)
        if len(matches) != 1 or matches[0].id is None:
            continue
        element_id = matches[0].id
        if ToolName.DELETE_ELEMENT in tools:
            return element_id, ToolCall(ToolName.DELETE_ELEMENT, {"id": element_id})
        element_type = schema.element(matches[0].tag)
        if ToolName.SET_ATTRIBUTE in tools and element_type.attributes:
            prop = next(iter(element_type.attributes.values()))
            return element_id, ToolCall(
                ToolName.SET_ATTRIBUTE,
                {"id": element_id, "attribute": {"name": prop.name, "value": _valid_value(prop)}},
            )
    return None


# -- helpers -----------------------------------------------------------------------------------


def _insertable(schema: MeshSchema, tag: str) -> bool:
    return any(element.allows_child(tag) for element in schema.elements)


def _empty_body(element: ElementType) -> dict[str, Any]:
    """Every attribute null (unset) and no children: the smallest body the strict tool schema takes."""
    body: dict[str, Any] = {TAG_KEY: element.tag_name} | dict.fromkeys(element.attributes)
    if element.child_property is not None:
        body[element.child_property.name] = []
    return body


def _wrong_value(schema: MeshSchema, name: str) -> Any:
    """A value whose JSON type no element declares for attribute ``name``, or None if all are taken."""
    declared = {element.attributes[name].type for element in schema.elements if name in element.attributes}
    candidates: list[tuple[str, Any]] = [("string", "seven"), ("number", 7), ("boolean", True)]
    for type_, value in candidates:
        covered = type_ in declared or (type_ == "number" and "integer" in declared)
        if not covered:
            return value
    return None


def _valid_value(prop: ValueProperty) -> Any:
    if prop.enum is not None:
        return prop.enum[0]
    return {"string": "x", "number": 1, "integer": 1, "boolean": True, "null": None}[prop.type]


def _valid_setter(schema: MeshSchema) -> dict[str, Any] | None:
    for element in schema.elements:
        for prop in element.attributes.values():
            return {"name": prop.name, "value": _valid_value(prop)}
    return None


# -- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaultTally:
    """How the injected faults of one kind were classified."""

    kind: FaultKind
    injected: int
    detected: int
    """Rejected by the toolkit."""
    classified: int
    """Given the expected outcome."""
    misclassified: tuple[str, ...]
    """For each wrong one: what it was classified as, and the toolkit's answer."""


def tally_faults(faults: Sequence[InjectedFault], calls: Sequence[ClassifiedCall]) -> list[FaultTally]:
    """Match each injected fault to the call that carried it and count how each kind fared.

    A fault that never reached the toolkit (the episode ended first) counts as injected but neither
    detected nor classified.
    """
    tallies = []
    for kind in FaultKind:
        mine = [fault for fault in faults if fault.kind is kind]
        detected = classified = 0
        wrong: list[str] = []
        for fault in mine:
            call = next((c for c in calls if fault.matches(c)), None)
            if call is None:
                wrong.append(f"{fault.agent}: never made")
                continue
            detected += not call.ok
            if call.outcome is kind.expected:
                classified += 1
            else:
                wrong.append(f"{fault.agent}: {call.outcome.value} ({json.dumps(call.result)[:200]})")
        if mine:
            tallies.append(FaultTally(kind, len(mine), detected, classified, tuple(wrong)))
    return tallies
