"""Agents that edit documents through function-calling tools.

:class:`AgentLoop` runs one agent over the official ``openai`` client (Responses or Chat Completions,
any OpenAI-compatible endpoint); a :class:`~mesh_tools.tools.Toolkit` is all it needs from the tools.
:func:`run_team` runs several agents on one document of a room, each its own participant. Agent
definitions come from ``agents/*.toml`` (:func:`load_agent_definitions`).

:class:`ScriptedModel` is the offline backend: per-agent :class:`Policy` objects answer in process
behind the OpenAI APIs, and every run made with it is marked ``scripted`` (never a model result).
See docs/agents.md.
"""

from ._agents_sdk_seat import AGENTS_SDK_API, ChangeNotices, agents_sdk_agent, run_agents_sdk
from ._definition import (
    PROMPT_PLACEHOLDERS,
    AgentDefinition,
    load_agent_definition,
    load_agent_definitions,
    render_prompt,
)
from ._events import AgentResult, EventCallback, StopReason, ToolCallRecord, TurnEvent, Usage
from ._live_view import SCRIPTED_BANNER, TeamView, output_console, print_team_result
from ._loop import AgentLoop
from ._policy import (
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModelError,
    ScriptPolicy,
    Step,
    ToolCall,
    ToolCalls,
    ToolExchange,
)
from ._retry import RetryPolicy
from ._scripted_model import SCRIPTED_MODEL_PREFIX, ScriptedModel, ScriptedReply, ScriptedRequest
from ._team import (
    Convergence,
    MemberResult,
    MemberRunner,
    TeamMember,
    TeamResult,
    TeamSpec,
    TokenFactory,
    run_team,
    token_minter,
)
from ._transcript import OFFLINE_LABEL_FIELD, ApiName

__all__ = [
    "AGENTS_SDK_API",
    "OFFLINE_LABEL_FIELD",
    "PROMPT_PLACEHOLDERS",
    "SCRIPTED_BANNER",
    "SCRIPTED_MODEL_PREFIX",
    "AgentDefinition",
    "AgentLoop",
    "AgentResult",
    "ApiName",
    "ChangeNotices",
    "Convergence",
    "Conversation",
    "EventCallback",
    "FinalMessage",
    "MemberResult",
    "MemberRunner",
    "Policy",
    "RetryPolicy",
    "ScriptPolicy",
    "ScriptedModel",
    "ScriptedModelError",
    "ScriptedReply",
    "ScriptedRequest",
    "Step",
    "StopReason",
    "TeamMember",
    "TeamResult",
    "TeamSpec",
    "TeamView",
    "TokenFactory",
    "ToolCall",
    "ToolCallRecord",
    "ToolCalls",
    "ToolExchange",
    "TurnEvent",
    "Usage",
    "agents_sdk_agent",
    "load_agent_definition",
    "load_agent_definitions",
    "output_console",
    "print_team_result",
    "render_prompt",
    "run_agents_sdk",
    "run_team",
    "token_minter",
]
