"""An openai-agents ``Agent`` as a team member: the SDK runs its own loop, with the member's tools.

A seated agent keeps its own instructions, model, tools and settings; it gets the member's document
tools added (``Toolkit`` → ``FunctionTool``, see :func:`~mesh_tools.tools.agents_sdk_tools`). An agent
without a model runs on the team's client with the member's model name. It hears others' edits as our
loop's agents do: in its edits' results (``changes``) and through :class:`ChangeNotices`, the SDK's
``call_model_input_filter`` that adds the toolkit's change notice to the model input before each call.
Every model call becomes a :class:`TurnEvent` (tool calls, usage, notice, text), so team views,
records and evals treat it like a turn of our loop.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from ..tools import Toolkit, ToolResult, agents_sdk_tools
from ._events import AgentResult, EventCallback, StopReason, ToolCallRecord, TurnEvent, Usage
from ._transcript import ApiName

__all__ = ["AGENTS_SDK_API", "ChangeNotices", "agents_sdk_agent", "run_agents_sdk"]

#: ``TurnEvent.api`` of a turn the openai-agents SDK made.
AGENTS_SDK_API = "openai-agents"


class ChangeNotices:
    """``RunConfig.call_model_input_filter`` that tells the model what others changed, as our loop does.

    Before each model call the toolkit's change notice (if any) becomes a user message at the end of
    the input. The SDK keeps its own history without the filter's additions, so every notice given so
    far is put back at the place it was first given: the model sees the conversation our loop builds.
    """

    def __init__(self, toolkit: Toolkit) -> None:
        self._toolkit = toolkit
        self._given: list[tuple[int, str]] = []
        self.last: str | None = None
        """The notice added before the latest model call, if any."""

    def __call__(self, data: Any) -> Any:
        from agents.run import ModelInputData

        items = list(data.model_data.input)
        self.last = self._toolkit.change_notice()
        if self.last is not None:
            self._given.append((len(items), self.last))
        for offset, (at, notice) in enumerate(self._given):
            items.insert(at + offset, {"role": "user", "content": notice})
        return ModelInputData(input=items, instructions=data.model_data.instructions)


def agents_sdk_agent(name: str, instructions: str) -> Any:
    """A plain ``agents.Agent`` with no model: seated in a team, it runs the member's model on the
    team's client, with the member's temperature."""
    from agents import Agent

    return Agent(name=name, instructions=instructions)


@dataclass(slots=True)
class _Turns:
    """Turns a run's model calls and tool calls into :class:`TurnEvent` objects, as they happen."""

    agent: str
    model: str
    notices: ChangeNotices
    on_event: EventCallback | None
    events: list[TurnEvent] = field(default_factory=list)
    _started_at: float = 0.0
    _started: float = 0.0
    _reply: Any = None
    _notice: str | None = None
    _calls: list[ToolCallRecord] = field(default_factory=list)

    async def model_call_starts(self) -> None:
        await self.flush()
        self._started_at, self._started = time.time(), time.perf_counter()
        self._notice = self.notices.last

    def model_call_ended(self, reply: Any) -> None:
        self._reply = reply

    def tool_call(self, record: ToolCallRecord) -> None:
        self._calls.append(record)

    async def flush(self) -> None:
        """Emit the turn in progress (its reply and the tool calls it asked for)."""
        reply, self._reply = self._reply, None
        if reply is None:
            return
        usage = reply.usage
        event = TurnEvent(
            agent=self.agent,
            turn=len(self.events) + 1,
            api=AGENTS_SDK_API,
            model=self.model,
            response_model=self.model,
            response_id=reply.response_id or "",
            started_at=self._started_at,
            duration_s=time.perf_counter() - self._started,
            attempts=1,
            retry_waits_s=(),
            usage=Usage(
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens,
                usage.input_tokens_details.cached_tokens,
            ),
            notice=self._notice,
            text=_text(reply.output),
            tool_calls=tuple(self._calls),
        )
        self._calls = []
        self.events.append(event)
        if self.on_event is not None:
            outcome = self.on_event(event)
            if inspect.isawaitable(outcome):
                await outcome


class _RecordedToolkit:
    """The member's toolkit, every call recorded on the turn that asked for it."""

    def __init__(self, toolkit: Toolkit, turns: _Turns) -> None:
        self._toolkit = toolkit
        self._turns = turns
        self._count = 0

    def responses_tools(self) -> list[dict[str, Any]]:
        return self._toolkit.responses_tools()

    def chat_completions_tools(self) -> list[dict[str, Any]]:
        return self._toolkit.chat_completions_tools()

    def change_notice(self) -> str | None:
        return self._toolkit.change_notice()

    async def call(self, name: str, arguments: str) -> str:
        started_at, started = time.time(), time.perf_counter()
        result = await self._toolkit.call(name, arguments)
        self._count += 1
        ok = ToolResult.from_text(result).ok
        duration = time.perf_counter() - started
        self._turns.tool_call(
            ToolCallRecord(f"call_{self._count}", name, arguments, result, ok, started_at, duration)
        )
        return result


async def run_agents_sdk(
    agent: Any,
    *,
    name: str,
    task: str,
    toolkit: Toolkit,
    model: str,
    max_turns: int,
    client: AsyncOpenAI | None,
    temperature: float | None = None,
    api: ApiName = "responses",
    on_event: EventCallback | None = None,
    scripted: bool = False,
) -> AgentResult:
    """Run the openai-agents ``agent`` on ``task`` with ``toolkit``'s tools added; its record as ours.

    An agent without a model gets ``model`` on ``client`` (over ``api``; None uses the SDK's default
    client, ``OPENAI_API_KEY``) and ``temperature`` unless its settings name one. ``scripted`` marks
    the result as never a model result: the SDK does not pass on the offline label of a scripted
    reply, so the caller, who chose the endpoint, says so.
    """
    from agents import MaxTurnsExceeded, OpenAIChatCompletionsModel, OpenAIResponsesModel, RunConfig, Runner
    from agents.lifecycle import RunHooks

    notices = ChangeNotices(toolkit)
    label = model if agent.model is None else _model_name(agent.model)
    turns = _Turns(name, label, notices, on_event)

    class Hooks(RunHooks[Any]):
        async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
            await turns.model_call_starts()

        async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
            turns.model_call_ended(response)

    chosen, settings = agent.model, agent.model_settings
    if chosen is None:
        if settings.temperature is None:
            settings = dataclasses.replace(settings, temperature=temperature)
        if client is None:
            chosen = model
        elif api == "responses":
            chosen = OpenAIResponsesModel(model, client)
        else:
            chosen = OpenAIChatCompletionsModel(model, client)
    seated = agent.clone(
        model=chosen, tools=[*agent.tools, *agents_sdk_tools(_RecordedToolkit(toolkit, turns))]
    )
    final_text: str | None = None
    try:
        result = await Runner.run(
            seated,
            task,
            max_turns=max_turns,
            hooks=Hooks(),
            run_config=RunConfig(tracing_disabled=True, call_model_input_filter=notices),
        )
        final_text = str(result.final_output)
    except MaxTurnsExceeded:
        pass
    await turns.flush()
    events = tuple(turns.events)
    return AgentResult(
        agent=name,
        model=label,
        final_text=final_text,
        stop_reason=StopReason.FINAL_MESSAGE if final_text is not None else StopReason.MAX_TURNS,
        turns=len(events),
        events=events,
        usage=sum((event.usage for event in events), Usage()),
        scripted=scripted,
    )


def _model_name(model: Any) -> str:
    return model if isinstance(model, str) else str(getattr(model, "model", type(model).__name__))


def _text(output: list[Any]) -> str | None:
    """The text of a reply's message items, if any."""
    parts = [
        content.text
        for item in output
        if getattr(item, "type", None) == "message"
        for content in item.content
        if getattr(content, "type", None) == "output_text"
    ]
    return "".join(parts) or None
