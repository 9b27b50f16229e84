"""The record of an agent run: one event per model turn, and the result of the whole run.

Everything here is plain data that ``json.dumps`` accepts after :meth:`TurnEvent.to_dict` or
:meth:`AgentResult.to_dict`, so a terminal view, an eval harness or a log file can follow a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["AgentResult", "EventCallback", "StopReason", "ToolCallRecord", "TurnEvent", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a model reported for one call, or summed over several."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    """The part of ``input_tokens`` the provider served from its prompt cache (billed lower)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
        )


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call the model asked for and what the toolkit answered.

    ``arguments`` and ``result`` are kept verbatim (the model's JSON string, the toolkit's JSON string),
    so a malformed call stays visible as it was sent.
    """

    call_id: str
    name: str
    arguments: str
    result: str
    ok: bool
    started_at: float
    """Wall-clock time (Unix seconds) at which the call started."""
    duration_s: float


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One model turn: the request, the reply, and the tool calls that reply asked for."""

    agent: str
    turn: int
    """1 for the first model call of a run."""
    api: str
    model: str
    """The model the loop asked for."""
    response_model: str
    """The model the server says answered; ``scripted:<agent>`` for a ``ScriptedModel``."""
    response_id: str
    started_at: float
    """Wall-clock time (Unix seconds) at which the first attempt of the request was sent."""
    duration_s: float
    """From the first attempt to the reply, retries and their waits included."""
    attempts: int
    retry_waits_s: tuple[float, ...]
    """The delay waited before each retry of this turn's request."""
    usage: Usage
    notice: str | None
    """The change notice added to the conversation just before this request, if any."""
    text: str | None
    """The text the model wrote in this turn, if any."""
    tool_calls: tuple[ToolCallRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready plain data."""
        return dataclasses.asdict(self)


#: Receives each :class:`TurnEvent` as soon as its turn is over; may be a plain or an async function.
EventCallback = Callable[[TurnEvent], Awaitable[None] | None]


class StopReason(StrEnum):
    """Why an agent run ended."""

    FINAL_MESSAGE = "final_message"
    """The model answered without asking for tools."""
    MAX_TURNS = "max_turns"
    """The run used every model turn it was allowed."""
    TOKEN_BUDGET = "token_budget"
    """The tokens reported so far reached the run's budget."""


@dataclass(frozen=True, slots=True)
class AgentResult:
    """How an agent run ended, with its full record."""

    agent: str
    model: str
    final_text: str | None
    """The model's last message when it stopped on its own; None when a limit stopped it."""
    stop_reason: StopReason
    turns: int
    events: tuple[TurnEvent, ...]
    usage: Usage
    scripted: bool
    """True when any reply was stamped by an offline backend: such a run is never a model result."""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready plain data."""
        return dataclasses.asdict(self)
