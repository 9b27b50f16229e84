"""Scripted policies: plain Python that reads the conversation so far and decides the model's next step.

:class:`~mesh_tools.agent.ScriptedModel` turns each request into a :class:`Conversation` and asks the
agent's :class:`Policy` for the next :class:`Step`: tool calls (one, or several to be run in parallel)
or a final message. A policy can read ids that an earlier tool call returned and use them in the next
call, like a model would. Nothing a policy produces is a model result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..tools import ToolResult

__all__ = [
    "Conversation",
    "FinalMessage",
    "Policy",
    "ScriptPolicy",
    "ScriptedModelError",
    "Step",
    "ToolCall",
    "ToolCalls",
    "ToolExchange",
    "conversation_from_chat",
    "conversation_from_responses",
]


class ScriptedModelError(Exception):
    """A request the scripted model cannot answer, or a policy that failed; it is answered with a 400."""


@dataclass(frozen=True, slots=True)
class ToolExchange:
    """An earlier tool call and its result, as found in the conversation history."""

    turn: int
    """The model turn (1 for the first) that asked for this call."""
    call_id: str
    name: str
    arguments: str
    output: str | None
    """The raw result the agent sent back, or None while it has not sent one."""

    @property
    def parsed_arguments(self) -> Any:
        """The arguments as JSON, or None when they do not parse."""
        return _parse_json(self.arguments)

    @property
    def result(self) -> Any:
        """The result as JSON, or None when there is none or it does not parse."""
        return None if self.output is None else _parse_json(self.output)

    @property
    def tool_result(self) -> ToolResult | None:
        """The result as a :class:`~mesh_tools.tools.ToolResult`, or None while there is none."""
        return None if self.output is None else ToolResult.from_text(self.output)


@dataclass(frozen=True, slots=True)
class Conversation:
    """Everything a request tells the scripted model, in API-independent form."""

    agent: str
    api: Literal["responses", "chat"]
    instructions: str
    input: str
    """The first user message: the agent's task."""
    notes: tuple[str, ...]
    """Later user messages, such as change notices, in order."""
    exchanges: tuple[ToolExchange, ...]
    """Every earlier tool call with its result, in order."""
    turn: int
    """How many model turns the history already holds; 0 on the first request."""
    tools: tuple[str, ...]
    """Names of the tools offered in this request."""
    parallel_tool_calls: bool
    body: dict[str, Any] = field(repr=False)
    """The request body as received."""

    def last(self, name: str) -> ToolExchange | None:
        """The most recent call to tool ``name``, or None."""
        return next((exchange for exchange in reversed(self.exchanges) if exchange.name == name), None)

    def latest_exchanges(self) -> tuple[ToolExchange, ...]:
        """The calls of the latest model turn, in the order they were asked for."""
        return tuple(exchange for exchange in self.exchanges if exchange.turn == self.turn)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call for the scripted model to make.

    A dict of arguments is sent as JSON; a string is sent verbatim, so a policy can send malformed
    arguments on purpose.
    """

    name: str
    arguments: dict[str, Any] | str

    def arguments_json(self) -> str:
        """The arguments as the wire carries them."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """A model turn that asks for one or more tool calls, to be run in parallel."""

    calls: tuple[ToolCall, ...]

    def __init__(self, *calls: ToolCall) -> None:
        if not calls:
            raise ValueError("ToolCalls needs at least one ToolCall")
        object.__setattr__(self, "calls", calls)


@dataclass(frozen=True, slots=True)
class FinalMessage:
    """A model turn that answers with text and asks for no tools."""

    text: str


Step = ToolCalls | FinalMessage


class Policy(Protocol):
    """Decides what the scripted model does next for one agent."""

    def next_step(self, conversation: Conversation) -> Step:
        """The next model turn; raise :class:`ScriptedModelError` to refuse the request."""
        ...


@dataclass(frozen=True, slots=True)
class ScriptPolicy:
    """A policy that plays a fixed script: entry ``conversation.turn`` answers each request.

    An entry is a :data:`Step` or a function of the conversation returning one, for steps that depend
    on earlier results. Indexing by the turns already in the history makes a retried request get the
    same answer.
    """

    steps: Sequence[Step | Callable[[Conversation], Step]]

    def next_step(self, conversation: Conversation) -> Step:
        """The script's entry for this turn."""
        if conversation.turn >= len(self.steps):
            raise ScriptedModelError(
                f"the script for {conversation.agent!r} has {len(self.steps)} step(s); "
                f"turn {conversation.turn + 1} was requested"
            )
        entry = self.steps[conversation.turn]
        return entry if isinstance(entry, ToolCalls | FinalMessage) else entry(conversation)


def conversation_from_responses(agent: str, body: dict[str, Any]) -> Conversation:
    """Read a ``POST /v1/responses`` body; raises :class:`ScriptedModelError` where the API would."""
    history = _History()
    history.add_instructions(_text(body.get("instructions")))
    items = body.get("input", [])
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
        kind = item.get("type", "message")
        if kind == "function_call":
            history.add_call(item["call_id"], item["name"], item["arguments"], new_turn=False)
        elif kind == "function_call_output":
            history.add_output(item["call_id"], _text(item.get("output")))
        elif kind == "reasoning" or (kind == "message" and item.get("role") == "assistant"):
            history.add_model_output(new_turn=False)
        elif kind == "message":
            history.add_message(item.get("role"), _text(item.get("content")))
        else:
            raise ScriptedModelError(f"input item type {kind!r} is not supported by the scripted model")
    tools = tuple(tool["name"] for tool in body.get("tools", []) if tool.get("type") == "function")
    return history.conversation(agent, "responses", tools, body)


def conversation_from_chat(agent: str, body: dict[str, Any]) -> Conversation:
    """Read a ``POST /v1/chat/completions`` body; raises :class:`ScriptedModelError` where the API would."""
    history = _History()
    for message in body.get("messages", []):
        role = message.get("role")
        if role == "assistant":
            history.add_model_output(new_turn=True)
            for call in message.get("tool_calls") or []:
                function = call["function"]
                history.add_call(call["id"], function["name"], function["arguments"], new_turn=False)
        elif role == "tool":
            history.add_output(message["tool_call_id"], _text(message.get("content")))
        else:
            history.add_message(role, _text(message.get("content")))
    tools = tuple(
        tool["function"]["name"] for tool in body.get("tools", []) if tool.get("type") == "function"
    )
    return history.conversation(agent, "chat", tools, body)


class _History:
    """Accumulates a request's history in order, tracking where each model turn begins."""

    def __init__(self) -> None:
        self.instructions: list[str] = []
        self.user_messages: list[str] = []
        self.exchanges: dict[str, ToolExchange] = {}
        self.turn = 0
        self._in_model_turn = False

    def add_instructions(self, text: str) -> None:
        if text:
            self.instructions.append(text)

    def add_message(self, role: object, text: str) -> None:
        self._in_model_turn = False
        if role in ("system", "developer"):
            self.add_instructions(text)
        elif role == "user":
            self.user_messages.append(text)
        else:
            raise ScriptedModelError(f"message role {role!r} is not supported by the scripted model")

    def add_model_output(self, *, new_turn: bool) -> None:
        self._enter_model_turn(new_turn)

    def add_call(self, call_id: str, name: str, arguments: str, *, new_turn: bool) -> None:
        self._enter_model_turn(new_turn)
        if call_id in self.exchanges:
            raise ScriptedModelError(f"tool call id {call_id!r} appears twice in the history")
        self.exchanges[call_id] = ToolExchange(self.turn, call_id, name, arguments, None)

    def add_output(self, call_id: str, output: str) -> None:
        self._in_model_turn = False
        exchange = self.exchanges.get(call_id)
        if exchange is None:
            raise ScriptedModelError(f"no tool call found for the tool output with call id {call_id!r}")
        self.exchanges[call_id] = ToolExchange(
            exchange.turn, call_id, exchange.name, exchange.arguments, output
        )

    def conversation(
        self, agent: str, api: Literal["responses", "chat"], tools: tuple[str, ...], body: dict[str, Any]
    ) -> Conversation:
        unanswered = [call_id for call_id, exchange in self.exchanges.items() if exchange.output is None]
        if unanswered:
            raise ScriptedModelError(f"no tool output found for tool call(s) {', '.join(unanswered)}")
        if not self.user_messages:
            raise ScriptedModelError("the request has no user message")
        return Conversation(
            agent=agent,
            api=api,
            instructions="\n\n".join(self.instructions),
            input=self.user_messages[0],
            notes=tuple(self.user_messages[1:]),
            exchanges=tuple(self.exchanges.values()),
            turn=self.turn,
            tools=tools,
            parallel_tool_calls=bool(body.get("parallel_tool_calls", True)),
            body=body,
        )

    def _enter_model_turn(self, new_turn: bool) -> None:
        if new_turn or not self._in_model_turn:
            self.turn += 1
        self._in_model_turn = True


def _text(content: Any) -> str:
    """The text of a message content: a string, or the concatenated text of its content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
