"""The agent loop: ask the model, run the tools it asks for, feed the results back, until it is done.

One :class:`AgentLoop` describes an agent; each :meth:`AgentLoop.run` is an independent conversation
over the official ``openai.AsyncOpenAI`` client, so any OpenAI-compatible endpoint works
(``OPENAI_BASE_URL``, or a client built with ``base_url=``), the offline ``ScriptedModel`` included.

A run stops when the model answers without tool calls, when it has used ``max_turns`` model calls,
or when the tokens reported so far reach ``token_budget``. Tool calls a model turn asked for are always
executed and recorded before the run stops, so an edit the model decided on is never half-dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass, field

import openai
from openai import AsyncOpenAI

from ..errors import AgentConfigError, ModelCallError
from ..tools import TOOL_NAME_PATTERN, Toolkit, ToolResult
from ._events import AgentResult, EventCallback, StopReason, ToolCallRecord, TurnEvent, Usage
from ._retry import RetryPolicy
from ._transcript import ApiName, ModelReply, RequestedToolCall, RequestSettings, Transcript, new_transcript

__all__ = ["AgentLoop"]


@dataclass(frozen=True, slots=True)
class AgentLoop:
    """An agent: who it is, which model it talks to and the limits of each run.

    Pass ``client`` to choose the endpoint; without one, a client is built from ``OPENAI_API_KEY`` and
    ``OPENAI_BASE_URL``. Either way requests go out with the client's own retries turned off, so
    ``retry`` alone decides what is retried and for how long.
    """

    name: str
    instructions: str
    model: str
    api: ApiName = "responses"
    max_turns: int = 20
    token_budget: int | None = None
    """Stop once the total tokens reported by the model reach this; None for no budget."""
    temperature: float | None = None
    """None leaves the model's default (reasoning models accept nothing else)."""
    parallel_tool_calls: bool = True
    client: AsyncOpenAI | None = field(default=None, repr=False)
    on_event: EventCallback | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    request_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        # The name becomes a participant name and, offline, the model ``scripted:<name>``.
        if not TOOL_NAME_PATTERN.match(self.name):
            problems.append(f"name {self.name!r} must match {TOOL_NAME_PATTERN.pattern}")
        if self.api not in ("responses", "chat"):
            problems.append(f"api {self.api!r} must be 'responses' or 'chat'")
        if self.max_turns < 1:
            problems.append(f"max_turns must be at least 1, got {self.max_turns}")
        if self.token_budget is not None and self.token_budget < 1:
            problems.append(f"token_budget must be at least 1 or None, got {self.token_budget}")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            problems.append(f"temperature must be between 0 and 2, got {self.temperature}")
        if self.retry.max_attempts < 1:
            problems.append(f"retry.max_attempts must be at least 1, got {self.retry.max_attempts}")
        if problems:
            raise AgentConfigError(f"agent {self.name!r}: " + "; ".join(problems))

    async def run(self, task: str, toolkit: Toolkit) -> AgentResult:
        """Work on ``task`` with ``toolkit`` until the model is done or a limit is reached.

        Raises :class:`~mesh_tools.errors.ModelCallError` when the model API refuses a request (a 4xx
        other than 408/429) or is still failing after every retry; events of the turns already
        completed have been delivered to ``on_event`` by then.
        """
        if self.client is not None:
            return await self._run(task, toolkit, self.client.with_options(max_retries=0))
        async with self._client_from_environment() as client:
            return await self._run(task, toolkit, client)

    async def _run(self, task: str, toolkit: Toolkit, client: AsyncOpenAI) -> AgentResult:
        settings = RequestSettings(
            self.model, self.temperature, self.parallel_tool_calls, self.request_timeout_s
        )
        transcript = new_transcript(self.api, self.instructions, task)
        events: list[TurnEvent] = []
        usage = Usage()
        offline = False
        for turn in range(1, self.max_turns + 1):
            notice = toolkit.change_notice()
            if notice:
                transcript.add_note(notice)
            started_at = time.time()
            started = time.perf_counter()
            reply, retry_waits_s = await self._send(transcript, client, settings, toolkit)
            duration_s = time.perf_counter() - started
            records = await self._run_tools(reply.tool_calls, toolkit)
            transcript.add_tool_results([(record.call_id, record.result) for record in records])
            event = TurnEvent(
                agent=self.name,
                turn=turn,
                api=self.api,
                model=self.model,
                response_model=reply.model,
                response_id=reply.response_id,
                started_at=started_at,
                duration_s=duration_s,
                attempts=len(retry_waits_s) + 1,
                retry_waits_s=retry_waits_s,
                usage=reply.usage,
                notice=notice or None,
                text=reply.text,
                tool_calls=records,
            )
            events.append(event)
            usage += reply.usage
            offline = offline or reply.offline_label is not None
            await self._emit(event)
            if not reply.tool_calls:
                return self._result(StopReason.FINAL_MESSAGE, reply.text, events, usage, offline)
            if self.token_budget is not None and usage.total_tokens >= self.token_budget:
                return self._result(StopReason.TOKEN_BUDGET, None, events, usage, offline)
        return self._result(StopReason.MAX_TURNS, None, events, usage, offline)

    def _client_from_environment(self) -> AsyncOpenAI:
        try:
            return AsyncOpenAI(max_retries=0)
        except openai.OpenAIError as error:
            raise AgentConfigError(
                f"agent {self.name!r} has no model client: {error}",
                hint="set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint) or pass client=",
            ) from error

    async def _send(
        self, transcript: Transcript, client: AsyncOpenAI, settings: RequestSettings, toolkit: Toolkit
    ) -> tuple[ModelReply, tuple[float, ...]]:
        waits: list[float] = []
        try:
            async for attempt in self.retry.retrying(on_wait=waits.append):
                with attempt:
                    reply = await transcript.send(client, settings, toolkit)
        except openai.APIError as error:
            raise ModelCallError(
                f"agent {self.name!r}: model request failed after {len(waits) + 1} attempt(s): {error}"
            ) from error
        return reply, tuple(waits)

    async def _run_tools(
        self, calls: tuple[RequestedToolCall, ...], toolkit: Toolkit
    ) -> tuple[ToolCallRecord, ...]:
        if self.parallel_tool_calls:
            return tuple(await asyncio.gather(*(_run_tool(call, toolkit) for call in calls)))
        # Parallel calls were turned off, yet some endpoints still send several: keep them in order.
        return tuple([await _run_tool(call, toolkit) for call in calls])

    async def _emit(self, event: TurnEvent) -> None:
        if self.on_event is None:
            return
        outcome = self.on_event(event)
        if inspect.isawaitable(outcome):
            await outcome

    def _result(
        self,
        reason: StopReason,
        final_text: str | None,
        events: list[TurnEvent],
        usage: Usage,
        offline: bool,
    ) -> AgentResult:
        return AgentResult(
            agent=self.name,
            model=self.model,
            final_text=final_text,
            stop_reason=reason,
            turns=len(events),
            events=tuple(events),
            usage=usage,
            scripted=offline,
        )


async def _run_tool(call: RequestedToolCall, toolkit: Toolkit) -> ToolCallRecord:
    started_at = time.time()
    started = time.perf_counter()
    result = await toolkit.call(call.name, call.arguments)
    return ToolCallRecord(
        call_id=call.call_id,
        name=call.name,
        arguments=call.arguments,
        result=result,
        ok=ToolResult.from_text(result).ok,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
    )
