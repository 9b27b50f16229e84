"""Adapter: the toolkit as a low-level MCP server (``mcp.server.Server``, mcp 2.x), served the MCP way.

- Input schemas have optional fields where OpenAI's strict mode needs required-and-nullable ones
  (:mod:`._mcp_schema`); a call that omits them is filled with nulls and checked by the same validator.
- Each tool carries annotations (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``), an
  ``outputSchema`` (the result envelope) and answers with ``structuredContent`` beside the JSON text.
- Failures come back as ``CallToolResult(is_error=True)`` with the same JSON the OpenAI adapters
  return; a raised exception would reach the client as an opaque JSON-RPC internal error.
- A :class:`DocumentPublisher` (the document toolkit is one) adds its documents as resources
  (``mesh://<path>``), readable and subscribable: ``resources/subscribe`` (2025-era clients) and
  ``subscriptions/listen`` (2026-07-28) both bring ``notifications/resources/updated`` when another
  participant edits a subscribed document.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._mcp_schema import fill_omitted, optional_fields_schema

if TYPE_CHECKING:
    from ._function_toolkit import FunctionToolkit
    from ._tool import Tool

__all__ = ["DEFAULT_INSTRUCTIONS", "OUTPUT_SCHEMA", "RESOURCE_SCHEME", "DocumentPublisher", "build_server"]

logger = logging.getLogger("mesh_tools.tools")

DEFAULT_INSTRUCTIONS = (
    "Tools to read and edit live, schema-typed documents shared with other participants. Call "
    "describe_document first: it shows each element's id; the other tools take those ids. Every result "
    'is JSON with "ok"; on failure "error" has a code, a message and a hint naming what is allowed.'
)

#: Resources are documents: ``mesh://`` followed by the document's path in the room.
RESOURCE_SCHEME = "mesh://"

#: What every tool answers, as an MCP output schema: the ToolResult envelope.
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"type": "string"},
            },
            "required": ["code", "message"],
        },
        "version": {"type": "string", "description": "pass to changes_since or if_unchanged_since"},
    },
    "required": ["ok"],
}


@runtime_checkable
class DocumentPublisher(Protocol):
    """A toolkit whose documents can be MCP resources."""

    def document_paths(self) -> list[str]:
        """Paths of the documents to list as resources."""
        ...

    async def read_document(self, path: str) -> dict[str, Any]:
        """The document as a model reads it (a ``describe_document`` result); raises MeshError."""
        ...

    def on_remote_change(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(path)`` when another participant changes an open document; returns the remover."""
        ...

    async def watch(self, path: str) -> None:
        """Open the document so its remote changes are reported; raises MeshError."""
        ...


def build_server(toolkit: FunctionToolkit, *, name: str, instructions: str | None = None) -> Any:
    """A ``mcp.server.Server`` listing the toolkit's tools (and documents) and running their calls."""
    try:
        import mcp.types as types
        from mcp.server import Server, ServerRequestContext
    except ImportError as error:
        raise ImportError("toolkit.mcp_server() needs the MCP SDK: pip install 'mesh-tools[mcp]'") from error
    listed = [_mcp_tool(types, tool) for tool in toolkit.tools]
    by_name = {tool.name: tool for tool in toolkit.tools}

    async def list_tools(
        context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        context: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments: Any = params.arguments if params.arguments is not None else {}
        tool = by_name.get(params.name)
        if tool is not None:
            arguments = fill_omitted(tool.parameters, arguments)
        result = await toolkit.invoke(params.name, arguments)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.to_json())],
            structured_content=result.to_dict(),
            is_error=not result.ok,
        )

    handlers: dict[str, Any] = {"on_list_tools": list_tools, "on_call_tool": call_tool}
    if isinstance(toolkit, DocumentPublisher):
        handlers.update(_resource_handlers(toolkit, types))
    return Server(
        name, instructions=instructions if instructions is not None else DEFAULT_INSTRUCTIONS, **handlers
    )


def _mcp_tool(types: Any, tool: Tool) -> Any:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=optional_fields_schema(tool.parameters),
        output_schema=OUTPUT_SCHEMA,
        annotations=types.ToolAnnotations(
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            idempotent_hint=tool.idempotent,
            open_world_hint=False,
        ),
    )


def _resource_handlers(publisher: DocumentPublisher, types: Any) -> dict[str, Any]:
    from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
    from mcp.shared.subscriptions import ResourceUpdated

    from ..errors import MeshError

    bus = InMemorySubscriptionBus()
    # Sessions subscribed with resources/subscribe, by URI; one that fails to take a notice is dropped.
    subscribers: dict[str, list[Any]] = {}
    pending: set[str] = set()

    def path_of(uri: str) -> str:
        if not uri.startswith(RESOURCE_SCHEME):
            raise _invalid_params(f"{uri} is not a {RESOURCE_SCHEME} document")
        return uri.removeprefix(RESOURCE_SCHEME)

    async def notify(uri: str) -> None:
        pending.discard(uri)
        await bus.publish(ResourceUpdated(uri=uri))
        for session in list(subscribers.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except Exception:
                logger.info("dropping a closed MCP session's subscription to %s", uri, exc_info=True)
                subscribers[uri].remove(session)

    def changed(path: str) -> None:
        # One notice per burst: a remote update inserting a subtree reports many events at once.
        uri = RESOURCE_SCHEME + path
        if uri not in pending:
            pending.add(uri)
            asyncio.get_running_loop().create_task(notify(uri))

    publisher.on_remote_change(changed)

    async def list_resources(context: Any, params: Any) -> Any:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=RESOURCE_SCHEME + path,
                    name=path,
                    description="a live document: its elements with ids, cut to the toolkit's budget",
                    mime_type="application/json",
                )
                for path in publisher.document_paths()
            ]
        )

    async def list_templates(context: Any, params: Any) -> Any:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=RESOURCE_SCHEME + "{path}",
                    name="document",
                    description="a live document by its path in the room",
                    mime_type="application/json",
                )
            ]
        )

    async def read_resource(context: Any, params: Any) -> Any:
        uri = str(params.uri)
        try:
            content = await publisher.read_document(path_of(uri))
        except MeshError as error:
            raise _invalid_params(str(error)) from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=uri, mime_type="application/json", text=json.dumps(content, ensure_ascii=False)
                )
            ]
        )

    async def subscribe(context: Any, params: Any) -> Any:
        uri = str(params.uri)
        try:
            await publisher.watch(path_of(uri))
        except MeshError as error:
            raise _invalid_params(str(error)) from None
        sessions = subscribers.setdefault(uri, [])
        if context.session not in sessions:
            sessions.append(context.session)
        return types.EmptyResult()

    async def unsubscribe(context: Any, params: Any) -> Any:
        sessions = subscribers.get(str(params.uri), [])
        if context.session in sessions:
            sessions.remove(context.session)
        return types.EmptyResult()

    return {
        "on_list_resources": list_resources,
        "on_list_resource_templates": list_templates,
        "on_read_resource": read_resource,
        "on_subscribe_resource": subscribe,
        "on_unsubscribe_resource": unsubscribe,
        "on_subscriptions_listen": ListenHandler(bus),
    }


def _invalid_params(message: str) -> Exception:
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS

    return MCPError(code=INVALID_PARAMS, message=message)
