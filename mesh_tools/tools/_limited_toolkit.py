"""A view of a toolkit that offers an agent only the tools its role allows."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import AgentConfigError, PermissionDeniedError
from ._contract import Toolkit, ToolResult

__all__ = ["LimitedToolkit"]


class LimitedToolkit:
    """Offers the tools of ``toolkit`` named in ``allowed`` and refuses calls to any other.

    Allowed names the toolkit does not have are skipped: a definition may allow ``open_document``
    while the toolkit, bound to one document, has no such tool. A refused call comes back as a
    ``forbidden`` error result, like any other rejected call, so the model can read it and go on.
    """

    def __init__(self, toolkit: Toolkit, allowed: Collection[str]) -> None:
        offered = [_name(tool) for tool in toolkit.responses_tools()]
        self.names: tuple[str, ...] = tuple(name for name in offered if name in allowed)
        if not self.names:
            raise AgentConfigError(
                f"none of the allowed tools ({', '.join(sorted(allowed)) or 'none'}) is offered",
                hint=f"allow some of: {', '.join(offered)}",
            )
        self._toolkit = toolkit

    def responses_tools(self) -> list[dict[str, Any]]:
        """The allowed tools in the Responses shape."""
        return [tool for tool in self._toolkit.responses_tools() if _name(tool) in self.names]

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        """The allowed tools in the Chat Completions shape."""
        return [
            tool for tool in self._toolkit.chat_completions_tools() if tool["function"]["name"] in self.names
        ]

    async def call(self, name: str, arguments: str) -> str:
        """Run an allowed tool; any other name gets a ``forbidden`` error result."""
        if name in self.names:
            return await self._toolkit.call(name, arguments)
        error = PermissionDeniedError(
            f"tool {name!r} is not available to this agent", hint=f"use one of: {', '.join(self.names)}"
        )
        return ToolResult.failure(error).to_json()

    def change_notice(self) -> str | None:
        """The wrapped toolkit's notice of others' edits."""
        return self._toolkit.change_notice()


def _name(tool: dict[str, Any]) -> str:
    return str(tool["name"])
