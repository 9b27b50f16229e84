"""The tool contract, in one place: tool names, the result envelope, and what a toolkit offers.

Every layer above the tools (the agent loop, team runs, evals, the demo, the MCP and openai-agents
adapters) reads tool names from :class:`ToolName` and tool results through :class:`ToolResult`, so
"which tool was this" and "did the call succeed" have one answer each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypedDict, runtime_checkable

from ..errors import MeshError

__all__ = [
    "OMITTABLE_ARGUMENTS",
    "TOOL_NAME_PATTERN",
    "WRITE_TOOLS",
    "ToolError",
    "ToolName",
    "ToolResult",
    "Toolkit",
]

#: What OpenAI accepts as a function name (both APIs); MCP clients that re-export tools, and agent
#: names (they become model ids and participant names), need the same.
TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolName(StrEnum):
    """The document tools, by their unprefixed names (a toolkit may prepend a prefix).

    The four text tools exist only for schemas with a TextProperty (``format_text`` only with marks).
    """

    OPEN_DOCUMENT = "open_document"
    DESCRIBE_DOCUMENT = "describe_document"
    APPEND_CHILD = "append_child"
    SET_ATTRIBUTE = "set_attribute"
    REMOVE_ATTRIBUTE = "remove_attribute"
    DELETE_ELEMENT = "delete_element"
    MOVE_ELEMENT = "move_element"
    APPLY_EDITS = "apply_edits"
    UNDO = "undo"
    SEARCH_ELEMENTS = "search_elements"
    CHANGES_SINCE = "changes_since"
    WAIT_FOR_CHANGES = "wait_for_changes"
    REPLACE_TEXT = "replace_text"
    INSERT_TEXT = "insert_text"
    SET_TEXT = "set_text"
    FORMAT_TEXT = "format_text"


#: Tools that change the document.
WRITE_TOOLS = frozenset(
    {
        ToolName.APPEND_CHILD,
        ToolName.SET_ATTRIBUTE,
        ToolName.REMOVE_ATTRIBUTE,
        ToolName.DELETE_ELEMENT,
        ToolName.MOVE_ELEMENT,
        ToolName.APPLY_EDITS,
        ToolName.UNDO,
        ToolName.REPLACE_TEXT,
        ToolName.INSERT_TEXT,
        ToolName.FORMAT_TEXT,
        ToolName.SET_TEXT,
    }
)


#: Arguments added after callers were written: strict mode lists them as required (and nullable), but
#: a call may leave them out, which reads as null. Checks of calls against the advertised schemas (the
#: toolkit's, the eval classifier's) fill them in first.
OMITTABLE_ARGUMENTS = frozenset({"if_unchanged_since"})


class ToolError(TypedDict, total=False):
    """Why a call failed: a stable ``code``, a ``message`` and a ``hint`` saying what to do instead."""

    code: str
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call answers: ``{"ok": true, **fields}`` or ``{"ok": false, "error": {...}}``."""

    ok: bool
    fields: Mapping[str, Any] = field(default_factory=dict)
    """The result's fields on success (``ok`` itself excluded)."""
    error: ToolError | None = None
    """Why the call failed; None on success."""

    @classmethod
    def success(cls, fields: Mapping[str, Any]) -> ToolResult:
        return cls(True, dict(fields))

    @classmethod
    def failure(cls, error: MeshError) -> ToolResult:
        reason = ToolError(code=error.code, message=error.message)
        if error.hint:
            reason["hint"] = error.hint
        return cls(False, error=reason)

    @classmethod
    def from_text(cls, text: str) -> ToolResult:
        """Read a result as a toolkit returned it.

        A JSON object with ``"ok": false`` or an ``"error"`` key is a failure; anything else, JSON or
        not, is a success (a toolkit that is not ours may answer in plain text).
        """
        try:
            data = json.loads(text)
        except ValueError:
            return cls(True)
        return cls.from_value(data)

    @classmethod
    def from_value(cls, data: Any) -> ToolResult:
        """Read a result already parsed from JSON, by the rules of :meth:`from_text`."""
        if not isinstance(data, dict):
            return cls(True)
        if data.get("ok") is False or "error" in data:
            error = data.get("error")
            return cls(False, error=_tool_error(error) if isinstance(error, dict) else ToolError())
        return cls(True, {name: value for name, value in data.items() if name != "ok"})

    def to_dict(self) -> dict[str, Any]:
        if self.ok:
            return _success(self.fields)
        return {"ok": False, "error": dict(self.error or {})}

    def to_json(self) -> str:
        """The compact JSON text a model reads."""
        return _compact(self.to_dict())

    @staticmethod
    def success_json(fields: Mapping[str, Any]) -> str:
        """``ToolResult.success(fields).to_json()``, without making the result and copying the fields
        twice: every successful call answers this, and those copies cost as much as the encoding."""
        return _compact(_success(fields))


def _success(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"ok": True, **fields}


def _compact_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, with its encoder made once.

    ``JSONEncoder.encode`` makes a C encoder per call (as ``json.dumps`` makes a ``JSONEncoder``), which
    cost twice what encoding a small result does; this keeps the C encoder (CPython's ``json.encoder``,
    where there is one) and calls it with the same options. No circular check: a result is a tree the
    tool built.
    """
    plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain.encode
    encode = make(None, plain.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def compact(value: Any) -> str:
        if isinstance(value, str):
            return plain.encode(value)
        return "".join(encode(value, 0))

    return compact


_compact = _compact_encoder()


@runtime_checkable
class Toolkit(Protocol):
    """The tools one agent may call, in both OpenAI wire formats, plus news about others' edits.

    :class:`~mesh_tools.tools.DocumentToolkit` is one; the agent loop needs nothing more, so it runs
    just as well over a test double or another tool registry.
    """

    def responses_tools(self) -> list[dict[str, Any]]:
        """Function tools in the Responses API's flat shape (``{"type", "name", "parameters", ...}``)."""
        ...

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        """Function tools in the Chat Completions shape (``{"type", "function": {...}}``)."""
        ...

    async def call(self, name: str, arguments: str) -> str:
        """Run one tool call and return its result as JSON text (a :class:`ToolResult`).

        Never raises for a bad call (unknown tool, malformed or invalid arguments, rejected edit):
        the error comes back as the result, so the model can read it and correct itself.
        """
        ...

    def change_notice(self) -> str | None:
        """Text describing edits made by others since the agent last looked, or None if there were none."""
        ...


def _tool_error(data: Mapping[str, Any]) -> ToolError:
    error = ToolError()
    if "code" in data:
        error["code"] = str(data["code"])
    if "message" in data:
        error["message"] = str(data["message"])
    if "hint" in data:
        error["hint"] = str(data["hint"])
    return error
