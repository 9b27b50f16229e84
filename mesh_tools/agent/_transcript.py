"""An agent's conversation kept in one OpenAI API's wire format and resent whole on every request.

Two APIs, one interface: :class:`ResponsesTranscript` speaks ``POST /v1/responses`` (flat tools, input
items, ``function_call`` / ``function_call_output`` matched by ``call_id``) and :class:`ChatTranscript`
speaks ``POST /v1/chat/completions`` (nested tools, messages, ``tool_calls`` / ``tool`` messages matched
by ``tool_call_id``). Neither relies on server-side state: Responses requests go out with
``store=False`` and no ``previous_response_id``, so any OpenAI-compatible endpoint can serve them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from openai import AsyncOpenAI, BaseModel
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from ..errors import ModelCallError
from ..tools import Toolkit
from ._events import Usage

__all__ = [
    "OFFLINE_LABEL_FIELD",
    "ApiName",
    "ChatTranscript",
    "ModelReply",
    "RequestSettings",
    "RequestedToolCall",
    "ResponsesTranscript",
    "Transcript",
    "new_transcript",
]

ApiName = Literal["responses", "chat"]

#: The top-level reply field in which an offline backend (a ``ScriptedModel``) states its label; a
#: reply that carries it is never a model result.
OFFLINE_LABEL_FIELD = "mesh_tools_offline"


@dataclass(frozen=True, slots=True)
class RequestSettings:
    """The per-request knobs the loop passes through unchanged."""

    model: str
    temperature: float | None
    parallel_tool_calls: bool
    timeout_s: float


@dataclass(frozen=True, slots=True)
class RequestedToolCall:
    """A tool call as the model wrote it; ``arguments`` is the raw string, possibly not even JSON."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ModelReply:
    """What one model turn produced, independent of the API that produced it."""

    response_id: str
    model: str
    text: str | None
    tool_calls: tuple[RequestedToolCall, ...]
    usage: Usage
    offline_label: str | None = None
    """The label an offline backend stamped on the reply; None when a model answered."""


def _request_params(settings: RequestSettings, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The request arguments both APIs spell alike: model, timeout, tools and temperature."""
    params: dict[str, Any] = {"model": settings.model, "timeout": settings.timeout_s}
    # Chat Completions rejects tool_choice and parallel_tool_calls on a request without tools.
    if tools:
        params |= {"tools": tools, "tool_choice": "auto", "parallel_tool_calls": settings.parallel_tool_calls}
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    return params


class Transcript(ABC):
    """The history of one agent run: instructions, the task, notes, replies and tool results."""

    @abstractmethod
    def add_note(self, text: str) -> None:
        """Append a note for the model (a change notice) as a user message."""

    @abstractmethod
    async def send(self, client: AsyncOpenAI, settings: RequestSettings, toolkit: Toolkit) -> ModelReply:
        """Send the whole history with the toolkit's tools; on success append the reply to the history.

        A failed request leaves the history untouched, so sending again is a clean retry.
        """

    @abstractmethod
    def add_tool_results(self, results: Sequence[tuple[str, str]]) -> None:
        """Append ``(call_id, output)`` pairs, in the order the model asked for the calls."""


class ResponsesTranscript(Transcript):
    """A conversation for the Responses API, kept as input items."""

    def __init__(self, instructions: str, task: str) -> None:
        self._instructions = instructions
        self._items: list[dict[str, Any]] = [{"role": "user", "content": task}]

    def add_note(self, text: str) -> None:
        self._items.append({"role": "user", "content": text})

    async def send(self, client: AsyncOpenAI, settings: RequestSettings, toolkit: Toolkit) -> ModelReply:
        params = _request_params(settings, toolkit.responses_tools()) | {
            "instructions": self._instructions,
            "input": list(self._items),
            "store": False,
            # With store=False the server keeps no reasoning; reasoning models get theirs back encrypted.
            "include": ["reasoning.encrypted_content"],
        }
        response = await client.responses.create(**params)
        if not isinstance(response, Response):
            raise ModelCallError(f"expected a Response object, got {type(response).__name__}")
        return self._accept(response)

    def _accept(self, response: Response) -> ModelReply:
        calls: list[RequestedToolCall] = []
        for item in response.output:
            if item.type == "function_call":
                calls.append(RequestedToolCall(item.call_id, item.name, item.arguments))
                # Resent without its item id: with store=False the server keeps nothing to refer to.
                self._items.append(
                    {
                        "type": "function_call",
                        "call_id": item.call_id,
                        "name": item.name,
                        "arguments": item.arguments,
                    }
                )
            elif item.type == "reasoning" and item.encrypted_content:
                # Resent as returned, so a reasoning model keeps its chain of thought across turns.
                self._items.append(item.model_dump(mode="json", exclude_none=True))
            elif item.type == "message":
                text = "".join(part.text for part in item.content if part.type == "output_text")
                self._items.append({"role": "assistant", "content": text})
        usage = response.usage
        return ModelReply(
            response_id=response.id,
            model=str(response.model),
            offline_label=_offline_label(response),
            text=response.output_text or None,
            tool_calls=tuple(calls),
            usage=Usage(
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens,
                _cached(usage.input_tokens_details),
            )
            if usage
            else Usage(),
        )

    def add_tool_results(self, results: Sequence[tuple[str, str]]) -> None:
        self._items.extend(
            {"type": "function_call_output", "call_id": call_id, "output": output}
            for call_id, output in results
        )


class ChatTranscript(Transcript):
    """A conversation for the Chat Completions API, kept as messages."""

    def __init__(self, instructions: str, task: str) -> None:
        self._messages: list[dict[str, Any]] = [
            {"role": "system", "content": instructions},
            {"role": "user", "content": task},
        ]

    def add_note(self, text: str) -> None:
        self._messages.append({"role": "user", "content": text})

    async def send(self, client: AsyncOpenAI, settings: RequestSettings, toolkit: Toolkit) -> ModelReply:
        params = _request_params(settings, toolkit.chat_completions_tools()) | {
            "messages": list(self._messages)
        }
        completion = await client.chat.completions.create(**params)
        if not isinstance(completion, ChatCompletion):
            raise ModelCallError(f"expected a ChatCompletion object, got {type(completion).__name__}")
        return self._accept(completion)

    def _accept(self, completion: ChatCompletion) -> ModelReply:
        if not completion.choices:
            raise ModelCallError(f"chat completion {completion.id} has no choices")
        message = completion.choices[0].message
        text = message.content or message.refusal or None
        calls = tuple(
            RequestedToolCall(call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
            if call.type == "function"
        )
        reply: dict[str, Any] = {"role": "assistant", "content": message.content}
        if calls:
            reply["tool_calls"] = [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in calls
            ]
        self._messages.append(reply)
        usage = completion.usage
        return ModelReply(
            response_id=completion.id,
            model=completion.model,
            offline_label=_offline_label(completion),
            text=text,
            tool_calls=calls,
            usage=Usage(
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens,
                _cached(usage.prompt_tokens_details),
            )
            if usage
            else Usage(),
        )

    def add_tool_results(self, results: Sequence[tuple[str, str]]) -> None:
        self._messages.extend(
            {"role": "tool", "tool_call_id": call_id, "content": output} for call_id, output in results
        )


def new_transcript(api: ApiName, instructions: str, task: str) -> Transcript:
    """A transcript for ``api``, starting with the agent's instructions and its task."""
    if api == "responses":
        return ResponsesTranscript(instructions, task)
    return ChatTranscript(instructions, task)


def _cached(details: Any) -> int:
    """Cached input tokens from a usage's input details; endpoints other than OpenAI's may omit them."""
    cached = getattr(details, "cached_tokens", None)
    return cached if isinstance(cached, int) else 0


def _offline_label(reply: BaseModel) -> str | None:
    label = (reply.model_extra or {}).get(OFFLINE_LABEL_FIELD)
    return label if isinstance(label, str) else None
