"""Function tools for LLMs over live documents: OpenAI (Responses, Chat Completions), openai-agents, MCP.

>>> toolkit = DocumentToolkit(InMemorySource(schema), schema=schema, path="notes.html")
>>> await toolkit.call("describe_document", '{"id": null, "depth": null}')
"""

from .describe import Description
from .document_tools import DEFAULT_DESCRIBE_BUDGET, DocumentToolkit
from .registry import Toolkit
from .source import DocumentSource, InMemorySource, RoomSession
from .strict import StrictIssue, StrictLimits, lint_strict
from .tool import TOOL_NAME_PATTERN, Tool

__all__ = [
    "DEFAULT_DESCRIBE_BUDGET",
    "TOOL_NAME_PATTERN",
    "Description",
    "DocumentSource",
    "DocumentToolkit",
    "InMemorySource",
    "RoomSession",
    "StrictIssue",
    "StrictLimits",
    "Tool",
    "Toolkit",
    "lint_strict",
]
