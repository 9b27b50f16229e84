"""Reference solutions: the tool calls a correct agent makes, and the policy that replays them.

A reference is a list of steps, one model turn each::

    - call: describe_document
      args: {id: root, depth: null}
    - call: append_child
      args:
        parent_id: {$select: "column[name='To do']"}      # an element the agent has read
        position: null
        element: {$tag: task, title: Ship, points: 3, priority: null, done: null, assignee: null,
                  due: null, parts: []}
      as: ship                                         # names this call's result
    - call: set_attribute
      args: {id: {$result: ship}, attribute: {name: done, value: true}}   # the id it created
    - parallel: [{call: ..., args: ...}, {call: ..., args: ...}]         # one turn, several calls
    - wait: {selector: "task[title=Old]", present: false}   # describe until it holds (other agents)
    - say: "Added the task."                           # the final message (default "Done.")

``{$select: SEL}`` is replaced by the id of the one element ``SEL`` matches in the document the agent
read last (its latest ``describe_document`` result), so references work with the random ids of a live
room exactly as a model does; ``{$select: SEL, read: first}`` looks in its first read instead (an id
the agent saw before another agent deleted the element: a stale id).
``{$result: NAME}`` is the ``id`` field of the result of the call named
``NAME`` (``field:`` picks another field). The :class:`ReplayPolicy` is stateless: it rebuilds where it
is from the conversation on every request, like :class:`~mesh_tools.agent.ScriptPolicy`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, Tag, field_validator

from ..agent import Conversation, FinalMessage, ScriptedModelError, Step, ToolCall, ToolCalls, ToolExchange
from ..document import ROOT_ID
from ..tools import ToolName, ToolResult
from ._keyed_union import by_key
from ._selectors import SelectorError, parse_selector, select

__all__ = [
    "DEFAULT_FINAL_MESSAGE",
    "DESCRIBE_ARGUMENTS",
    "CallStep",
    "ParallelStep",
    "PlayedStep",
    "RawStep",
    "ReferenceStep",
    "ReplayPolicy",
    "SayStep",
    "WaitCondition",
    "WaitStep",
    "latest_document",
    "reference_problems",
    "step_calls",
]

DEFAULT_FINAL_MESSAGE = "Done."
#: The arguments of a full ``describe_document`` (strict schemas make every argument required).
DESCRIBE_ARGUMENTS: Mapping[str, Any] = {"id": ROOT_ID, "depth": None}
_DESCRIBE = ToolName.DESCRIBE_DOCUMENT


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CallStep(_Step):
    """One tool call; ``as`` names its result for later ``$result`` references."""

    call: Annotated[str, Field(min_length=1)]
    args: dict[str, JsonValue] = Field(default_factory=dict)
    name: Annotated[str | None, Field(alias="as")] = None


class ParallelStep(_Step):
    """Several tool calls in one model turn."""

    parallel: Annotated[list[CallStep], Field(min_length=1)]


class WaitCondition(_Step):
    """What a :class:`WaitStep` waits for."""

    selector: str
    present: bool = True
    max_polls: Annotated[int, Field(ge=1, le=10_000)] = 200

    @field_validator("selector")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse_selector(value)
        except SelectorError as error:
            raise ValueError(str(error)) from error
        return value


class WaitStep(_Step):
    """Call ``describe_document`` until ``selector`` matches (or, with ``present: false``, no longer does).

    For multi-agent tasks where one agent must see another's edit; it gives up after ``max_polls``.
    """

    wait: WaitCondition


class SayStep(_Step):
    """The final message: the agent stops calling tools."""

    say: str


@dataclass(frozen=True, slots=True)
class RawStep:
    """Tool calls sent exactly as given, arguments included (used to inject faults); never in YAML."""

    calls: tuple[ToolCall, ...]


#: What a :class:`ReplayPolicy` plays: the steps of a reference, plus raw steps.
PlayedStep = CallStep | ParallelStep | WaitStep | SayStep | RawStep


#: One turn of a reference solution.
ReferenceStep = Annotated[
    Annotated[CallStep, Tag("call")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[SayStep, Tag("say")],
    by_key(("call", "parallel", "wait", "say"), error_type="unknown_step", what="a reference step"),
]


def step_calls(step: PlayedStep) -> list[CallStep]:
    """The tool calls a reference step makes; none for waits, final messages and raw steps."""
    if isinstance(step, ParallelStep):
        return step.parallel
    return [step] if isinstance(step, CallStep) else []


def _markers(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``$select`` / ``$result`` marker inside an argument value."""
    if isinstance(value, dict):
        if len(value) in (1, 2) and ("$select" in value or "$result" in value):
            key = "$select" if "$select" in value else "$result"
            yield key, value[key]
            return
        for sub in value.values():
            yield from _markers(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from _markers(sub)


def reference_problems(
    steps: Sequence[CallStep | ParallelStep | WaitStep | SayStep], tools: set[str]
) -> list[str]:
    """What is wrong with a reference, statically: unknown tools, bad markers, late reads, a say mid-way."""
    problems: list[str] = []
    names: set[str] = set()
    has_read = False
    for index, step in enumerate(steps):
        where = f"reference[{index}]"
        if isinstance(step, SayStep):
            if index != len(steps) - 1:
                problems.append(f"{where}: say must be the last step")
            continue
        if isinstance(step, WaitStep):
            if _DESCRIBE not in tools:
                problems.append(f"{where}: wait needs the describe_document tool")
            has_read = True
            continue
        turn_names: list[str] = []
        for call in step_calls(step):
            if call.call not in tools:
                problems.append(f"{where}: tool {call.call!r} is not allowed for this agent")
            for kind, value in _markers(call.args):
                if kind == "$select":
                    if not has_read:
                        problems.append(f"{where}: $select {value!r} before any describe_document")
                    try:
                        parse_selector(str(value))
                    except SelectorError as error:
                        problems.append(f"{where}: {error}")
                elif value not in names:
                    problems.append(f"{where}: $result {value!r} names no earlier call")
            if call.name is not None:
                if call.name in names or call.name in turn_names:
                    problems.append(f"{where}: the name {call.name!r} is used twice")
                turn_names.append(call.name)
        names.update(turn_names)
        has_read = has_read or any(call.call == _DESCRIBE for call in step_calls(step))
    return problems


def latest_document(exchanges: Sequence[ToolExchange]) -> dict[str, Any] | None:
    """The document JSON of the most recent successful ``describe_document`` result."""
    for exchange in reversed(exchanges):
        result = exchange.tool_result
        if exchange.name.endswith(_DESCRIBE) and result is not None and result.ok:
            element = result.fields.get("element")
            if isinstance(element, dict):
                return element
    return None


@dataclass(frozen=True, slots=True)
class ReplayPolicy:
    """A scripted-server policy that plays a reference solution turn by turn.

    Markers are resolved against the conversation, so the policy needs no state of its own and a
    retried request gets the same answer. A reference that cannot be played (a selector matching no
    element or several) raises :class:`~mesh_tools.agent.ScriptedModelError`, which fails the episode
    visibly instead of scoring it.
    """

    steps: tuple[PlayedStep, ...]

    def next_step(self, conversation: Conversation) -> Step:
        """The reference's next turn, given every turn already in the conversation."""
        index, results = self._replay(conversation)
        if index >= len(self.steps):
            return FinalMessage(DEFAULT_FINAL_MESSAGE)
        step = self.steps[index]
        if isinstance(step, SayStep):
            return FinalMessage(step.say)
        if isinstance(step, WaitStep):
            return ToolCalls(ToolCall(_DESCRIBE, dict(DESCRIBE_ARGUMENTS)))
        if isinstance(step, RawStep):
            return ToolCalls(*step.calls)
        document = latest_document(conversation.exchanges)
        first = next(
            (
                read
                for exchange in conversation.exchanges
                if (read := latest_document([exchange])) is not None
            ),
            None,
        )
        return ToolCalls(
            *(ToolCall(call.call, _resolve(call.args, document, results, first)) for call in step_calls(step))
        )

    def _replay(self, conversation: Conversation) -> tuple[int, dict[str, Any]]:
        """Which step comes next, and the named results so far."""
        by_turn: dict[int, list[ToolExchange]] = {}
        for exchange in conversation.exchanges:
            by_turn.setdefault(exchange.turn, []).append(exchange)
        index, polls = 0, 0
        results: dict[str, Any] = {}
        for turn in range(1, conversation.turn + 1):
            if index >= len(self.steps):
                break
            step = self.steps[index]
            exchanges = by_turn.get(turn, [])
            if isinstance(step, WaitStep):
                polls += 1
                if _holds(step, latest_document(exchanges)):
                    index, polls = index + 1, 0
                elif polls >= step.wait.max_polls:
                    raise ScriptedModelError(
                        f"waited {polls} turns for {step.wait.selector!r} to be "
                        f"{'present' if step.wait.present else 'absent'}"
                    )
                continue
            if isinstance(step, CallStep | ParallelStep):
                for call, exchange in zip(step_calls(step), exchanges, strict=False):
                    if call.name is not None:
                        results[call.name] = exchange.result
            index += 1
        return index, results


def _holds(step: WaitStep, document: dict[str, Any] | None) -> bool:
    if document is None:
        return False
    return bool(select(document, step.wait.selector)) == step.wait.present


def _resolve(
    value: Any,
    document: dict[str, Any] | None,
    results: Mapping[str, Any],
    first_document: dict[str, Any] | None,
) -> Any:
    if isinstance(value, dict):
        if "$select" in value and set(value) <= {"$select", "read"}:
            read = first_document if value.get("read") == "first" else document
            return _select_id(str(value["$select"]), read)
        if "$result" in value and set(value) <= {"$result", "field"}:
            return _result_field(str(value["$result"]), str(value.get("field", "id")), results)
        return {key: _resolve(sub, document, results, first_document) for key, sub in value.items()}
    if isinstance(value, list):
        return [_resolve(sub, document, results, first_document) for sub in value]
    return value


def _select_id(selector: str, document: dict[str, Any] | None) -> str:
    if document is None:
        raise ScriptedModelError(f"$select {selector!r}: the agent has not read the document yet")
    matches = select(document, selector)
    if len(matches) != 1 or matches[0].id is None:
        found = ", ".join(f"<{node.tag}>" for node in matches[:5]) or "nothing"
        raise ScriptedModelError(
            f"$select {selector!r} must match exactly one element of the document read last; "
            f"it matched {len(matches)} ({found}) in {json.dumps(document)[:300]}"
        )
    return matches[0].id


def _result_field(name: str, field: str, results: Mapping[str, Any]) -> Any:
    result = ToolResult.from_value(results.get(name))
    if not result.ok or field not in result.fields:
        raise ScriptedModelError(
            f"$result {name!r}: the call failed or has no {field!r}: {results.get(name)!r}"
        )
    return result.fields[field]
