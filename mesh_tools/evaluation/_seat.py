"""Any agent in an eval: the seat the harness gives it, what it reports back, and how its calls are recorded.

An episode runs our agent loop by default. To evaluate another agent (an openai-agents ``Agent``, an
MCP client, your own loop), implement :class:`AgentRunner` and pass it to ``run_suite``: for every
agent of every task the harness connects a participant to the room as usual and calls
``runner.run(seat)``. The seat's :class:`RecordingToolkit` holds exactly the tools that agent may use;
call them through it, in whichever wire format the agent speaks::

    seat.toolkit.call(name, arguments_json)        # raw function calls (any loop)
    seat.toolkit.responses_tools()                 # or chat_completions_tools(), for an OpenAI request
    seat.toolkit.agents_sdk_tools()                # openai-agents FunctionTools
    seat.toolkit.mcp_server()                      # an MCP server for a client session

Every call is recorded with its arguments, result and timing, whichever way it came in, so the
classification, the goal and every metric are computed exactly as for our own loop. A runner that
knows its model turns calls ``seat.toolkit.next_turn()`` before the calls of each new turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..agent import AgentResult, MemberRunner, StopReason, TeamMember, ToolCallRecord, TurnEvent, Usage
from ..errors import MeshError
from ..tools import DocumentToolkit, FunctionToolkit, ToolResult
from ._errors import AgentRunError

__all__ = ["AgentReply", "AgentRunner", "RecordingToolkit", "Seat", "member_runner"]


class RecordingToolkit(FunctionToolkit):
    """One agent's tools: the document toolkit's tools it may call, with every call recorded by turn."""

    def __init__(self, toolkit: DocumentToolkit, allowed: Collection[str] | None) -> None:
        self._inner = FunctionToolkit(
            tool for tool in toolkit.tools if allowed is None or tool.name in allowed
        )
        super().__init__(self._inner.tools)
        self._document_tools = toolkit
        self.turn = 1
        self.calls: list[tuple[int, ToolCallRecord]] = []

    def next_turn(self) -> None:
        """Start a new model turn: later calls belong to it."""
        self.turn += 1

    def change_notice(self) -> str | None:
        """Others' edits since the agent last read the document (the agent loop's notice)."""
        return self._document_tools.change_notice()

    async def call(self, name: str, arguments: str) -> str:
        turn, started_at, started = self.turn, time.time(), time.perf_counter()
        result = await self._inner.call(name, arguments)
        self._record(turn, name, arguments, result, started_at, started)
        return result

    async def invoke(self, name: str, arguments: Any) -> ToolResult:
        turn, started_at, started = self.turn, time.time(), time.perf_counter()
        result = await self._inner.invoke(name, arguments)
        self._record(turn, name, json.dumps(arguments), result.to_json(), started_at, started)
        return result

    def _record(
        self, turn: int, name: str, arguments: str, result: str, started_at: float, started: float
    ) -> None:
        ok = ToolResult.from_text(result).ok
        call_id = f"call_{len(self.calls) + 1}"
        duration = time.perf_counter() - started
        self.calls.append((turn, ToolCallRecord(call_id, name, arguments, result, ok, started_at, duration)))


@dataclass(frozen=True, slots=True)
class Seat:
    """One agent's place in an episode."""

    name: str
    """The participant's name."""
    instructions: str
    """The system prompt its definition renders for this document and schema."""
    task: str
    """What it is asked to do (the user message)."""
    toolkit: RecordingToolkit
    max_turns: int
    temperature: float | None


@dataclass(frozen=True, slots=True)
class AgentReply:
    """What an agent reports when it is done."""

    final_text: str | None
    """Its last message; None when it stopped at a limit without one."""
    usage: Usage = field(default_factory=Usage)
    """Tokens over the whole run, cached input included, when the agent reports them."""


class AgentRunner(Protocol):
    """Runs one agent on a :class:`Seat`; the eval harness does everything else."""

    @property
    def label(self) -> str:
        """What is evaluated, as reports show it: ``openai-agents:gpt-5.4-mini``, ``replay``."""
        ...

    @property
    def model_result(self) -> bool:
        """Whether its runs are a model's work; False for anything scripted or replayed."""
        ...

    async def run(self, seat: Seat) -> AgentReply:
        """Work on ``seat.task`` with ``seat.toolkit`` until done; raise to fail the episode."""
        ...


def member_runner(runner: AgentRunner) -> MemberRunner:
    """The team runner's hook for ``runner``: seats each member and turns its recorded calls into a result."""

    async def run(member: TeamMember, task: str, toolkit: DocumentToolkit) -> AgentResult:
        tools = RecordingToolkit(toolkit, member.allowed_tools)
        seat = Seat(member.name, member.instructions, task, tools, member.max_turns, member.temperature)
        try:
            reply = await runner.run(seat)
        except MeshError:
            raise
        except Exception as error:
            # A foreign agent's failure (its SDK's own exceptions) fails this member, not the whole run.
            raise AgentRunError(
                f"{runner.label} failed: {type(error).__name__}: {error}",
                hint="the agent's own error; see its runner",
            ) from error
        return _result(member.name, runner, tools, reply)

    return run


def _result(agent: str, runner: AgentRunner, tools: RecordingToolkit, reply: AgentReply) -> AgentResult:
    turns: dict[int, list[ToolCallRecord]] = {}
    for turn, record in tools.calls:
        turns.setdefault(turn, []).append(record)
    numbered = [turns[turn] for turn in sorted(turns)]
    if reply.final_text is not None:
        numbered.append([])
    events = tuple(
        TurnEvent(
            agent=agent,
            turn=number,
            api="runner",
            model=runner.label,
            response_model=runner.label,
            response_id="",
            started_at=calls[0].started_at if calls else time.time(),
            duration_s=sum(call.duration_s for call in calls),
            attempts=1,
            retry_waits_s=(),
            # The runner reports usage for the whole run: it is booked on the last turn.
            usage=reply.usage if number == len(numbered) else Usage(),
            notice=None,
            text=reply.final_text if number == len(numbered) else None,
            tool_calls=tuple(calls),
        )
        for number, calls in enumerate(numbered, start=1)
    )
    return AgentResult(
        agent=agent,
        model=runner.label,
        final_text=reply.final_text,
        stop_reason=StopReason.FINAL_MESSAGE if reply.final_text is not None else StopReason.MAX_TURNS,
        turns=len(events),
        events=events,
        usage=reply.usage,
        scripted=not runner.model_result,
    )
