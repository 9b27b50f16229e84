"""Agents that edit documents through function-calling tools.

:class:`AgentLoop` runs one agent over the official ``openai`` client (Responses or Chat Completions,
any OpenAI-compatible endpoint); :class:`Toolbox` is all it needs from the tools. Agent definitions
come from ``agents/*.toml`` (:func:`load_agent_definitions`). :class:`ScriptedServer` is an offline
OpenAI-compatible endpoint that plays per-agent policies; its runs are always labelled scripted.
"""

from .definition import AgentDefinition, load_agent_definition, load_agent_definitions, render_prompt
from .events import AgentResult, EventCallback, StopReason, ToolCallRecord, TurnEvent, Usage
from .loop import AgentLoop
from .retry import RetryPolicy
from .scripted_model import (
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModelError,
    ScriptPolicy,
    Step,
    ToolCall,
    ToolCalls,
    ToolExchange,
    is_scripted_model,
)
from .scripted_server import HttpFault, MalformedArguments, RecordedRequest, ScriptedServer
from .toolbox import Toolbox, tool_output_ok

__all__ = [
    "AgentDefinition",
    "AgentLoop",
    "AgentResult",
    "Conversation",
    "EventCallback",
    "FinalMessage",
    "HttpFault",
    "MalformedArguments",
    "Policy",
    "RecordedRequest",
    "RetryPolicy",
    "ScriptPolicy",
    "ScriptedModelError",
    "ScriptedServer",
    "Step",
    "StopReason",
    "ToolCall",
    "ToolCallRecord",
    "ToolCalls",
    "ToolExchange",
    "Toolbox",
    "TurnEvent",
    "Usage",
    "is_scripted_model",
    "load_agent_definition",
    "load_agent_definitions",
    "render_prompt",
    "tool_output_ok",
]
