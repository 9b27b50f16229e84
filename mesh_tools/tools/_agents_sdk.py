"""Adapter: the toolkit's tools as openai-agents ``FunctionTool`` objects.

openai-agents passes hand-built FunctionTools the raw argument string unvalidated, and a raised
exception fails the whole run; each tool therefore goes through ``FunctionToolkit.call``, which validates
and returns errors to the model as JSON.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._contract import Toolkit

__all__ = ["agents_sdk_tools"]


def agents_sdk_tools(toolkit: Toolkit) -> list[Any]:
    """One ``agents.FunctionTool`` per tool, with the same name, description, schema and strictness.

    Any :class:`~mesh_tools.tools.Toolkit` will do (a ``LimitedToolkit``, a recording wrapper): the
    tools are read from its Responses definitions and every call goes through ``toolkit.call``.
    """
    try:
        from agents import FunctionTool
    except ImportError as error:
        raise ImportError(
            "toolkit.agents_sdk_tools() needs openai-agents: pip install 'mesh-tools[agents]'"
        ) from error

    def invoker(name: str) -> Any:
        async def on_invoke_tool(context: Any, arguments: str) -> str:
            return await toolkit.call(name, arguments)

        return on_invoke_tool

    return [
        FunctionTool(
            name=tool["name"],
            description=tool["description"],
            params_json_schema=copy.deepcopy(dict(tool["parameters"])),
            on_invoke_tool=invoker(tool["name"]),
            strict_json_schema=tool["strict"],
        )
        for tool in toolkit.responses_tools()
    ]
