"""Test doubles for your own tests of agents and tools: a fake OpenAI-compatible HTTP server.

:class:`ScriptedServer` serves a :class:`~mesh_tools.agent.ScriptedModel` (per-agent scripted
policies) over HTTP on loopback, so code that only takes a ``base_url`` (the ``mesh-tools`` commands,
another process, any OpenAI client) can be tested offline; it also injects faults and records every
request. The policy vocabulary is re-exported here so a test needs one import::

    from mesh_tools.testing import FinalMessage, ScriptedServer, ScriptPolicy, ToolCall, ToolCalls

    async with ScriptedServer({"writer": ScriptPolicy([ToolCalls(ToolCall("describe_document", {...})),
                                                       FinalMessage("Done.")])}) as server:
        loop = AgentLoop(name="writer", instructions="...", model="scripted:writer", client=server.client())

Production code never imports this package. See docs/agents.md.
"""

from ..agent import (
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModel,
    ScriptedModelError,
    ScriptPolicy,
    Step,
    ToolCall,
    ToolCalls,
    ToolExchange,
)
from ._scripted_server import Fault, HttpFault, MalformedArguments, RecordedRequest, ScriptedServer

__all__ = [
    "Conversation",
    "Fault",
    "FinalMessage",
    "HttpFault",
    "MalformedArguments",
    "Policy",
    "RecordedRequest",
    "ScriptPolicy",
    "ScriptedModel",
    "ScriptedModelError",
    "ScriptedServer",
    "Step",
    "ToolCall",
    "ToolCalls",
    "ToolExchange",
]
