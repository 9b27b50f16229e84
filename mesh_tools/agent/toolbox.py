"""What the agent loop needs from a set of tools, and how it reads a tool's result.

The document toolkit (``mesh_tools.tools``) satisfies :class:`Toolbox`; the loop depends on nothing
else, so it runs just as well over a test double or another tool registry.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

__all__ = ["Toolbox", "tool_output_ok"]


@runtime_checkable
class Toolbox(Protocol):
    """The tools one agent may call, in both OpenAI wire formats, plus news about others' edits."""

    def responses_tools(self) -> list[dict[str, Any]]:
        """Function tools in the Responses API's flat shape (``{"type", "name", "parameters", ...}``)."""
        ...

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        """Function tools in the Chat Completions shape (``{"type", "function": {...}}``)."""
        ...

    async def call(self, name: str, arguments: str) -> str:
        """Run one tool call and return its result as a JSON string.

        Never raises for a bad call (unknown tool, malformed or invalid arguments, rejected edit):
        the error comes back as the result, so the model can read it and correct itself.
        """
        ...

    def change_notice(self) -> str | None:
        """Text describing edits made by others since the agent last looked, or None if there were none."""
        ...


def tool_output_ok(output: str) -> bool:
    """Whether a tool result reports success.

    A result is a failure when it is a JSON object with ``"ok": false`` or with an ``"error"`` key, the
    convention the toolkit uses for ``{"ok": false, "error": {"code", "message", ...}}``; any other
    result, JSON or not, is a success.
    """
    try:
        data = json.loads(output)
    except ValueError:
        return True
    return not (isinstance(data, dict) and (data.get("ok") is False or "error" in data))
