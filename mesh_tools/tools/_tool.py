"""One function tool: what the model sees (name, description, parameters) and what runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError
from ._contract import TOOL_NAME_PATTERN
from ._strict import StrictIssue, StrictLimits, lint_strict

__all__ = ["Tool", "ToolHandler"]

#: Runs a call whose arguments were already checked; returns the result fields (``ok`` is added).
ToolHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    """A function tool. ``check`` raises a MeshError for arguments that do not fit ``parameters``.

    ``strict`` is True when ``parameters`` fit OpenAI's strict subset; otherwise ``strict_issues`` says
    why, and the tool is advertised with ``strict: false`` (``check`` still runs on every call).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: ToolHandler = field(repr=False, compare=False)
    check: Callable[[Any], None] = field(repr=False, compare=False)
    limits: StrictLimits = field(default_factory=StrictLimits, repr=False)
    optional: tuple[str, ...] = ()
    """Nullable top-level arguments a caller may leave out (they read as null): the ones added after
    callers were written, which strict mode still lists as required."""
    read_only: bool = False
    """True for a tool that never changes anything (MCP's ``readOnlyHint``)."""
    destructive: bool = False
    """True for a tool that may remove or overwrite what others wrote (MCP's ``destructiveHint``)."""
    idempotent: bool = False
    """True when repeating a call with the same arguments changes nothing more (``idempotentHint``)."""
    strict_issues: tuple[StrictIssue, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not TOOL_NAME_PATTERN.match(self.name):
            raise SchemaError(
                f"invalid tool name {self.name!r}",
                hint="use 1 to 64 letters, digits, '_' or '-' (no dots or spaces)",
            )
        object.__setattr__(self, "strict_issues", tuple(lint_strict(self.parameters, self.limits)))

    def with_omitted(self, arguments: Any, *, copy: bool = True) -> Any:
        """The arguments with every omitted optional argument present as null; ``copy=False`` fills
        them into ``arguments`` itself (a dict the caller owns, such as one it just parsed)."""
        if not self.optional or not isinstance(arguments, dict):
            return arguments
        if copy:
            return {**dict.fromkeys(self.optional), **arguments}
        for name in self.optional:
            arguments.setdefault(name, None)
        return arguments

    @property
    def strict(self) -> bool:
        """Whether the tool is advertised with ``strict: true``."""
        return not self.strict_issues

    def responses_format(self) -> dict[str, Any]:
        """The Responses API shape: flat, ``strict`` always explicit."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
            "strict": self.strict,
        }

    def chat_completions_format(self) -> dict[str, Any]:
        """The Chat Completions shape: nested under ``function``, ``strict`` always explicit."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
                "strict": self.strict,
            },
        }
