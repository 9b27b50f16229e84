"""Function tools for LLMs over live documents: OpenAI (Responses, Chat Completions), openai-agents, MCP.

>>> toolkit = DocumentToolkit(InMemorySource(schema), schema=schema, path="notes.html")
>>> await toolkit.call(ToolName.DESCRIBE_DOCUMENT, '{"id": "root", "depth": null}')

The contract every caller shares: tool names are :class:`ToolName`, every result is a
:class:`ToolResult` (``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``), and anything with
the :class:`Toolkit` methods can serve an agent. See docs/tools.md.
"""

from ._agents_sdk import agents_sdk_tools
from ._arguments import TAG_KEY
from ._contract import (
    OMITTABLE_ARGUMENTS,
    TOOL_NAME_PATTERN,
    WRITE_TOOLS,
    ToolError,
    Toolkit,
    ToolName,
    ToolResult,
)
from ._describe import Description
from ._document_toolkit import DEFAULT_DESCRIBE_BUDGET, DocumentToolkit
from ._function_toolkit import FunctionToolkit
from ._limited_toolkit import LimitedToolkit
from ._schema_summary import schema_summary
from ._source import DocumentSource, InMemorySource, RoomSession
from ._strict import StrictIssue, StrictLimits, lint_strict
from ._tool import Tool, ToolHandler

__all__ = [
    "DEFAULT_DESCRIBE_BUDGET",
    "OMITTABLE_ARGUMENTS",
    "TAG_KEY",
    "TOOL_NAME_PATTERN",
    "WRITE_TOOLS",
    "Description",
    "DocumentSource",
    "DocumentToolkit",
    "FunctionToolkit",
    "InMemorySource",
    "LimitedToolkit",
    "RoomSession",
    "StrictIssue",
    "StrictLimits",
    "Tool",
    "ToolError",
    "ToolHandler",
    "ToolName",
    "ToolResult",
    "Toolkit",
    "agents_sdk_tools",
    "lint_strict",
    "schema_summary",
]
