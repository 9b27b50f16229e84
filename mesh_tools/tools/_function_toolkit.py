"""A set of function tools with one entry point for calls, in every wire format we serve.

It imports no agent SDK: ``agents_sdk_tools`` and ``mcp_server`` import theirs when called.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidOperationError, InvalidValueError, MeshError, SchemaError, ServerError
from ._contract import ToolResult
from ._strict import StrictIssue
from ._tool import Tool

__all__ = ["FunctionToolkit"]

logger = logging.getLogger("mesh_tools.tools")


class FunctionToolkit:
    """Function tools by name, a :class:`~mesh_tools.tools.Toolkit`.

    ``call`` never raises for a bad call: errors are results the model reads, compact JSON
    :class:`~mesh_tools.tools.ToolResult` objects.
    """

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools: tuple[Tool, ...] = tuple(tools)
        self._by_name: dict[str, Tool] = {}
        for tool in self.tools:
            if tool.name in self._by_name:
                raise SchemaError(
                    f"two tools are named {tool.name!r}", hint="give each toolkit its own name prefix"
                )
            self._by_name[tool.name] = tool
        for tool in self.tools:
            if not tool.strict:
                logger.warning(
                    "tool %s is not strict-compatible (%s); it is advertised with strict: false",
                    tool.name,
                    "; ".join(str(issue) for issue in tool.strict_issues),
                )

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def strict_issues(self) -> dict[str, list[StrictIssue]]:
        """Why tools fall back to ``strict: false``, by tool name; empty when every tool is strict."""
        return {tool.name: list(tool.strict_issues) for tool in self.tools if tool.strict_issues}

    def responses_tools(self) -> list[dict[str, Any]]:
        """Tool definitions for the Responses API (``tools=`` of ``client.responses.create``)."""
        return [tool.responses_format() for tool in self.tools]

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        """Tool definitions for Chat Completions (``tools=`` of ``client.chat.completions.create``)."""
        return [tool.chat_completions_format() for tool in self.tools]

    def change_notice(self) -> str | None:
        """Plain function tools track no document, so there is never news of others' edits."""
        return None

    async def call(self, name: str, arguments: str) -> str:
        """Run a call as a model sent it (``arguments`` is the raw JSON string); return JSON text."""
        try:
            parsed = _parse(arguments)
        except MeshError as error:
            return ToolResult.failure(error).to_json()
        tool = self._by_name.get(name)
        if tool is None:
            return self._unknown(name).to_json()
        # The parsed arguments are this call's own: omitted ones are filled in place, not in a copy.
        # The handler is awaited here, not through a shared coroutine with ``invoke``: every call paid
        # for that extra coroutine level.
        parsed = tool.with_omitted(parsed, copy=False)
        try:
            tool.check(parsed)
            fields = await tool.handler(parsed)
        except Exception as error:
            return self._failure(tool, parsed, error).to_json()
        return ToolResult.success_json(fields)

    async def invoke(self, name: str, arguments: Any) -> ToolResult:
        """Run a call whose arguments are already parsed."""
        tool = self._by_name.get(name)
        if tool is None:
            return self._unknown(name)
        arguments = tool.with_omitted(arguments)
        try:
            tool.check(arguments)
            return ToolResult.success(await tool.handler(arguments))
        except Exception as error:
            return self._failure(tool, arguments, error)

    def _unknown(self, name: str) -> ToolResult:
        return ToolResult.failure(
            InvalidOperationError(f"there is no tool {name!r}", hint=f"tools: {', '.join(self._by_name)}")
        )

    @staticmethod
    def _failure(tool: Tool, arguments: Any, error: Exception) -> ToolResult:
        """The result of a call that raised: the model reads why, whatever went wrong."""
        if isinstance(error, MeshError):
            return ToolResult.failure(error)
        if isinstance(error, RecursionError):
            return ToolResult.failure(
                InvalidValueError("the arguments nest too deeply", hint=tool.description)
            )
        logger.exception("tool %s failed on %r", tool.name, arguments, exc_info=error)
        return ToolResult.failure(
            ServerError(
                f"the tool failed: {type(error).__name__}: {error}",
                hint="this is not caused by your arguments; try again",
            )
        )

    def agents_sdk_tools(self) -> list[Any]:
        """The tools as openai-agents ``FunctionTool`` objects (needs the ``agents`` extra)."""
        from ._agents_sdk import agents_sdk_tools

        return agents_sdk_tools(self)

    def mcp_server(self, name: str = "mesh-tools", instructions: str | None = None) -> Any:
        """A low-level ``mcp.server.Server`` publishing these tools (needs the ``mcp`` extra)."""
        from ._mcp_server import build_server

        return build_server(self, name=name, instructions=instructions)


def _parse(arguments: str) -> Any:
    if not isinstance(arguments, str):
        raise InvalidValueError(f"arguments must be a JSON string, not {type(arguments).__name__}")
    if not arguments or arguments.isspace():
        return {}  # some models send "" for a call without arguments
    try:
        return _decode(arguments)
    except ValueError as error:
        raise InvalidValueError(
            f"the arguments are not valid JSON: {error}", hint="send one JSON object"
        ) from None
    except RecursionError:
        raise InvalidValueError("the arguments nest too deeply", hint="send one JSON object") from None


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)``, a third cheaper for the usual text: one JSON value, nothing around it
    (the decoder's scanner alone, as ``raw_decode`` calls it, skips decode's two whitespace scans and
    raw_decode's Python frame). Other texts go through ``decode``, which says what is wrong with them."""
    try:
        value, end = _SCAN_ONCE(text, 0)
    except (ValueError, StopIteration):  # StopIteration: no JSON value at the start
        return _DECODER.decode(text)
    return value if end == len(text) else _DECODER.decode(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Made once: json.loads with an option builds a decoder per call, which cost as much as the parse.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
#: The decoder's scanner (C where CPython has it), which typeshed does not declare.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
