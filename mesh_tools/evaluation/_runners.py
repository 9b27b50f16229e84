"""Agent runners the harness ships: a scripted policy in process, an openai-agents ``Agent``, an MCP client.

Each implements :class:`~mesh_tools.evaluation.AgentRunner` (``seat.py``); pass one to ``run_suite``
to evaluate that kind of agent on any suite. Our own agent loop needs no runner: it is the default.

- :class:`ReplayRunner` plays scripted :class:`~mesh_tools.agent.Policy` objects (reference solutions,
  or the bad policies of the discrimination self-test) straight against the tools, with no model
  endpoint at all; never a model result.
- :class:`OpenAIAgentsRunner` runs each agent as an ``agents.Agent`` (openai-agents) on any
  OpenAI-compatible endpoint, with the seat's tools as ``FunctionTool`` objects.
- :class:`MCPClientRunner` serves the seat's tools as an MCP server and hands a connected MCP client
  to your code, which drives the agent (any MCP-speaking agent or framework).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from ..agent import (
    ApiName,
    ChangeNotices,
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModelError,
    ToolExchange,
    Usage,
)
from ._errors import AgentRunError
from ._seat import AgentReply, Seat

__all__ = ["MCPClientRunner", "MCPDriver", "OpenAIAgentsRunner", "ReplayRunner", "ToolCaller", "play_policy"]

#: Runs one tool call (name, JSON arguments) and returns the JSON result.
ToolCaller = Callable[[str, str], Awaitable[str]]


async def play_policy(
    policy: Policy, seat: Seat, call: ToolCaller, *, turn_delay_s: float = 0.0
) -> AgentReply:
    """Play ``policy`` for ``seat``, each tool call through ``call``, until it answers or runs out of turns.

    The policy sees the conversation as the scripted model would (every earlier call with its result),
    so the same policies work here, behind the scripted model and over MCP.
    """
    exchanges: list[ToolExchange] = []
    names = tuple(seat.toolkit.names)
    for turn in range(seat.max_turns):
        conversation = Conversation(
            agent=seat.name,
            api="responses",
            instructions=seat.instructions,
            input=seat.task,
            notes=(),
            exchanges=tuple(exchanges),
            turn=turn,
            tools=names,
            parallel_tool_calls=True,
            body={},
        )
        try:
            step = policy.next_step(conversation)
        except ScriptedModelError as error:
            raise AgentRunError(
                f"policy of {seat.name!r}: {error}", hint="fix the reference solution"
            ) from error
        if isinstance(step, FinalMessage):
            return AgentReply(step.text)
        if turn:
            seat.toolkit.next_turn()
        arguments = [tool_call.arguments_json() for tool_call in step.calls]
        outputs = await asyncio.gather(
            *(call(tool_call.name, text) for tool_call, text in zip(step.calls, arguments, strict=True))
        )
        exchanges += [
            ToolExchange(turn + 1, f"call_{turn + 1}_{index}", tool_call.name, text, output)
            for index, (tool_call, text, output) in enumerate(
                zip(step.calls, arguments, outputs, strict=True)
            )
        ]
        # Lets other agents and the room's broadcasts run between turns, as a model's latency would.
        await asyncio.sleep(turn_delay_s)
    return AgentReply(None)


@dataclass(frozen=True, slots=True)
class ReplayRunner:
    """Plays each agent's scripted policy in process, calling the tools directly; never a model result."""

    policies: Mapping[str, Policy]
    """The policy of each participant, by name."""
    turn_delay_s: float = 0.005

    @property
    def label(self) -> str:
        return "replay"

    @property
    def model_result(self) -> bool:
        return False

    async def run(self, seat: Seat) -> AgentReply:
        policy = self.policies.get(seat.name)
        if policy is None:
            raise AgentRunError(f"no policy for {seat.name!r}", hint=f"policies: {', '.join(self.policies)}")
        return await play_policy(policy, seat, seat.toolkit.call, turn_delay_s=self.turn_delay_s)


@dataclass(frozen=True, slots=True)
class OpenAIAgentsRunner:
    """Runs each agent as an openai-agents ``Agent`` with the seat's tools, prompt, task and turn limit.

    ``model`` may contain ``{agent}``, replaced by the participant's name (a scripted endpoint routes
    ``scripted:{agent}`` to that agent's policy). ``model_result`` must be False for any endpoint that
    is not a model (the scripted server), so reports never show such a run as a model's.
    """

    model: str
    client: AsyncOpenAI = field(repr=False)
    api: ApiName = "responses"
    model_result: bool = True

    @property
    def label(self) -> str:
        return f"openai-agents:{self.model}"

    async def run(self, seat: Seat) -> AgentReply:
        from agents import (
            Agent,
            MaxTurnsExceeded,
            ModelSettings,
            OpenAIChatCompletionsModel,
            OpenAIResponsesModel,
            RunConfig,
            Runner,
        )

        name = self.model.replace("{agent}", seat.name)
        model = (
            OpenAIResponsesModel(name, self.client)
            if self.api == "responses"
            else OpenAIChatCompletionsModel(name, self.client)
        )
        agent: Agent[Any] = Agent(
            name=seat.name,
            instructions=seat.instructions,
            tools=seat.toolkit.agents_sdk_tools(),
            model=model,
            model_settings=ModelSettings(temperature=seat.temperature),
        )
        try:
            result = await Runner.run(
                agent,
                seat.task,
                max_turns=seat.max_turns,
                hooks=_turn_hooks(seat),
                # Others' edits reach the model as in our loop: a notice before each model call.
                run_config=RunConfig(
                    tracing_disabled=True, call_model_input_filter=ChangeNotices(seat.toolkit)
                ),
            )
        except MaxTurnsExceeded:
            return AgentReply(None)
        usage = result.context_wrapper.usage
        return AgentReply(
            str(result.final_output),
            Usage(
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens,
                usage.input_tokens_details.cached_tokens,
            ),
        )


def _turn_hooks(seat: Seat) -> Any:
    """openai-agents run hooks that mark each model call after the first as a new turn of the seat."""
    from agents import RunHooks

    class TurnHooks(RunHooks[Any]):
        model_calls = 0

        async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
            if self.model_calls:
                seat.toolkit.next_turn()
            self.model_calls += 1

    return TurnHooks()


#: Drives one agent over a connected MCP client (``mcp.Client``) until it is done.
MCPDriver = Callable[[Any, Seat], Awaitable[AgentReply]]


@dataclass(frozen=True, slots=True)
class MCPClientRunner:
    """Serves the seat's tools as an in-memory MCP server and lets ``drive`` work through an MCP client."""

    drive: MCPDriver
    label: str
    model_result: bool

    async def run(self, seat: Seat) -> AgentReply:
        import mcp

        async with mcp.Client(seat.toolkit.mcp_server(name=f"mesh-tools-{seat.name}")) as client:
            return await self.drive(client, seat)
