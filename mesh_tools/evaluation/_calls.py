"""Classifying every tool call of an episode: how far it got on the way to a valid edit.

A call passes, in the toolkit's order: a known tool name, arguments that parse as JSON, arguments
that fit the advertised tool schema, ids that name live elements, and (for a write) an edit the
document schema accepts. Each call gets the first stage it failed, or ``ok``.

The stages before the document are decided here, independently of the toolkit, from the advertised
tool definitions (jsonschema, Draft 2020-12); the later ones from the toolkit's result and error code,
plus what the episode has seen: a missing id that appeared earlier in the episode is *stale*, one that
never did is *invented*. When the toolkit's verdict and ours disagree (it accepted a call we find
outside its schema, or rejected one for a reason we cannot place), the call is flagged
``consistent=False``: a toolkit bug or a gap in this classifier, reported, never silently absorbed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator

from ..schema import ID_ATTRIBUTE
from ..tools import OMITTABLE_ARGUMENTS, WRITE_TOOLS, ToolName, ToolResult
from ._report_data import CallData

__all__ = [
    "CallClassifier",
    "CallOutcome",
    "ClassifiedCall",
]

# Arguments that name an existing element.
_ID_ARGUMENTS = ("id", "parent_id")
# Error codes the document (or the toolkit on its behalf) gives for an edit that breaks the schema
# or cannot apply there; "invalid_value" also covers a value the document refuses.
_DOCUMENT_CODES = frozenset(
    {
        "invalid_document",
        "unknown_tag",
        "child_not_allowed",
        "unknown_attribute",
        "invalid_value",
        "reserved_attribute",
        "invalid_operation",
    }
)


class CallOutcome(StrEnum):
    """The first stage a tool call failed, or ``ok``."""

    OK = "ok"
    UNKNOWN_TOOL = "unknown_tool"
    """A tool the agent was not offered."""
    MALFORMED_ARGUMENTS = "malformed_arguments"
    """The arguments are not JSON."""
    TOOL_SCHEMA = "tool_schema"
    """The arguments parse but do not fit the tool's advertised JSON Schema."""
    INVENTED_ID = "invented_id"
    """An id that never existed in the episode."""
    STALE_ID = "stale_id"
    """An id of an element that existed in the episode and was deleted."""
    DOCUMENT_SCHEMA = "document_schema"
    """Fits the tool schema, but the document refused the edit (schema or position)."""
    OTHER_ERROR = "other_error"
    """Refused for a reason that is not the call's shape (permissions, connection, server)."""


@dataclass(frozen=True, slots=True)
class ClassifiedCall:
    """One tool call of an episode with its classification."""

    agent: str
    turn: int
    tool: str
    arguments: str
    result: str
    outcome: CallOutcome
    write: bool
    """Whether the tool changes the document (unknown tools count as attempted writes)."""
    error_code: str | None
    target_ids: tuple[str, ...]
    """Ids the arguments name (``id``, ``parent_id``)."""
    created_ids: tuple[str, ...]
    """Ids the call created (``append_child``)."""
    started_at: float
    duration_s: float
    consistent: bool
    """False when the toolkit's verdict contradicts the classification (see the module docs)."""
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is CallOutcome.OK

    def parsed_arguments(self) -> Any:
        """The arguments as JSON, or None when they do not parse."""
        return _parse(self.arguments)[1]

    def to_dict(self) -> CallData:
        return {
            "agent": self.agent,
            "turn": self.turn,
            "tool": self.tool,
            "arguments": self.arguments,
            "result": self.result,
            "outcome": self.outcome.value,
            "write": self.write,
            "error_code": self.error_code,
            "target_ids": list(self.target_ids),
            "created_ids": list(self.created_ids),
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "consistent": self.consistent,
            "note": self.note,
        }


class CallClassifier:
    """Classifies the calls of one episode, in the order they were made.

    ``tools`` are the toolkit's definitions (Responses shape: ``{"name", "parameters"}``), ``offered``
    the names each agent was offered (None: every agent got every tool), ``known_ids`` the element ids
    of the starting document. Every id seen in a call's arguments or result is remembered, so a later
    ``not_found`` on it is recognized as stale.
    """

    def __init__(
        self,
        tools: Iterable[Mapping[str, Any]],
        *,
        offered: Mapping[str, Collection[str]] | None = None,
        known_ids: Iterable[str] = (),
    ) -> None:
        self._validators = {
            str(tool["name"]): Draft202012Validator(dict(tool["parameters"])) for tool in tools
        }
        self._offered = offered
        self.seen_ids: set[str] = set(known_ids)

    def classify(
        self,
        *,
        agent: str,
        turn: int,
        tool: str,
        arguments: str,
        result: str,
        started_at: float = 0.0,
        duration_s: float = 0.0,
    ) -> ClassifiedCall:
        """Classify one call from what was sent and what the toolkit answered."""
        answer = ToolResult.from_value(_parse(result)[1])
        accepted = answer.ok
        error = answer.error or {}
        code = None if accepted else str(error.get("code", "unknown"))
        message = str(error.get("message", ""))
        parses, parsed = _parse(arguments)
        targets = _targets(parsed)
        created = _created(tool, answer.fields) if accepted else ()
        known = tool in self._validators and (self._offered is None or tool in self._offered.get(agent, ()))
        outcome, note = self._outcome(
            tool if known else None, parses, parsed, targets, accepted, code, message
        )
        consistent = accepted == (outcome is CallOutcome.OK)
        if not consistent and note is None:
            note = "the toolkit accepted a call outside its advertised schema"
        if accepted:
            self.seen_ids.update(targets)
        self.seen_ids.update(created)
        self.seen_ids.update(_ids_in(answer))
        return ClassifiedCall(
            agent=agent,
            turn=turn,
            tool=tool,
            arguments=arguments,
            result=result,
            outcome=outcome,
            write=not known or tool.endswith(tuple(WRITE_TOOLS)),
            error_code=code,
            target_ids=targets,
            created_ids=created,
            started_at=started_at,
            duration_s=duration_s,
            consistent=consistent,
            note=note,
        )

    def _outcome(
        self,
        tool: str | None,
        parses: bool,
        parsed: Any,
        targets: tuple[str, ...],
        accepted: bool,
        code: str | None,
        message: str,
    ) -> tuple[CallOutcome, str | None]:
        if tool is None:
            return CallOutcome.UNKNOWN_TOOL, None
        validator = self._validators[tool]
        if not parses:
            return CallOutcome.MALFORMED_ARGUMENTS, None
        if not validator.is_valid(_with_omitted(parsed, validator.schema)):
            return CallOutcome.TOOL_SCHEMA, None
        if accepted:
            return CallOutcome.OK, None
        if code == "not_found":
            missing = [target for target in targets if target in message] or list(targets)
            stale = "was deleted" in message or any(target in self.seen_ids for target in missing)
            return (CallOutcome.STALE_ID if stale else CallOutcome.INVENTED_ID), None
        if code in _DOCUMENT_CODES:
            return CallOutcome.DOCUMENT_SCHEMA, None
        return CallOutcome.OTHER_ERROR, f"error code {code!r}: {message}"


def _parse(text: str) -> tuple[bool, Any]:
    # The toolkit reads "" as {} (some models send it for a call without arguments); so do we.
    if not text.strip():
        return True, {}
    try:
        return True, json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return False, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _targets(arguments: Any) -> tuple[str, ...]:
    if not isinstance(arguments, dict):
        return ()
    return tuple(str(arguments[name]) for name in _ID_ARGUMENTS if isinstance(arguments.get(name), str))


def _created(tool: str, answer: Mapping[str, Any]) -> tuple[str, ...]:
    """The ids an accepted ``append_child`` created (the new element first, then its descendants), or
    an ``apply_edits`` batch (its inserts in order)."""
    ids = answer.get("ids")
    if tool.endswith(ToolName.APPLY_EDITS):
        return tuple(str(key) for key in ids) if isinstance(ids, dict) else ()
    created = answer.get("id")
    if not tool.endswith(ToolName.APPEND_CHILD) or not isinstance(created, str):
        return ()
    rest = [str(key) for key in ids if key != created] if isinstance(ids, dict) else []
    return (created, *rest)


def _ids_in(value: Any) -> set[str]:
    """Element ids anywhere in a result: every ``$id`` value (describe_document shows them so)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if key == ID_ATTRIBUTE and isinstance(sub, str):
                    found.add(sub)
                elif isinstance(sub, dict | list):
                    stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _with_omitted(arguments: Any, schema: bool | Mapping[str, Any]) -> Any:
    """The arguments with omittable ones the tool has (``OMITTABLE_ARGUMENTS``) present as null, as the
    toolkit reads them."""
    if not isinstance(arguments, dict) or not isinstance(schema, Mapping):
        return arguments
    omitted = OMITTABLE_ARGUMENTS & set(schema.get("properties", {})) - set(arguments)
    return {**dict.fromkeys(omitted), **arguments}
