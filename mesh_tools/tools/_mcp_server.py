"""Adapter: the toolkit as a low-level MCP server (``mcp.server.Server``, mcp 2.x).

The low-level server publishes each input schema verbatim (MCPServer would derive its own from type
hints) and validates nothing, so calls go through ``FunctionToolkit.invoke``. Failures come back as
``CallToolResult(is_error=True)`` with the same JSON the OpenAI adapters return; a raised exception
would reach the client as an opaque JSON-RPC internal error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._function_toolkit import FunctionToolkit

__all__ = ["DEFAULT_INSTRUCTIONS", "build_server"]

DEFAULT_INSTRUCTIONS = (
    "Tools to read and edit live, schema-typed documents shared with other participants. Call "
    "describe_document first: it shows each element's id; the other tools take those ids. Every result "
    'is JSON with "ok"; on failure "error" has a code, a message and a hint naming what is allowed.'
)


def build_server(toolkit: FunctionToolkit, *, name: str, instructions: str | None = None) -> Any:
    """A ``mcp.server.Server`` listing the toolkit's tools and running their calls."""
    try:
        import mcp.types as types
        from mcp.server import Server, ServerRequestContext
    except ImportError as error:
        raise ImportError("toolkit.mcp_server() needs the MCP SDK: pip install 'mesh-tools[mcp]'") from error
    listed = [
        types.Tool(name=tool.name, description=tool.description, input_schema=dict(tool.parameters))
        for tool in toolkit.tools
    ]

    async def list_tools(
        context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        context: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        result = await toolkit.invoke(params.name, params.arguments if params.arguments is not None else {})
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.to_json())], is_error=not result.ok
        )

    return Server(
        name,
        instructions=instructions if instructions is not None else DEFAULT_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
