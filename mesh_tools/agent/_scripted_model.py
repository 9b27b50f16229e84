"""The offline model backend: OpenAI API requests answered in process by per-agent scripted policies.

A :class:`ScriptedModel` reads a ``POST /v1/responses`` or ``POST /v1/chat/completions`` body, asks
the policy registered for the requested agent what to do next, and answers in the API's own response
shape (``usage`` included), so the real ``openai`` client and the real agent loop run unchanged
against it. :meth:`ScriptedModel.client` is an ``AsyncOpenAI`` whose HTTP transport calls the model
directly (no socket); ``mesh_tools.testing.ScriptedServer`` serves the same model over HTTP on
loopback for tests that need a real endpoint.

The model carries its label and stamps it on every reply (field :data:`OFFLINE_LABEL_FIELD`); the
agent loop reads that stamp, never a model name, to mark a run as not a model result. The requested
``model`` only routes: ``scripted:<agent>`` is answered by the policy registered under ``<agent>``.
Replies also say what they are: the response ``model`` is ``scripted:<agent>``, ids contain
``scripted``, and token counts are estimates (one token per four characters of JSON).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from ._policy import (
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModelError,
    Step,
    ToolCalls,
    conversation_from_chat,
    conversation_from_responses,
)
from ._transcript import OFFLINE_LABEL_FIELD, ApiName

__all__ = [
    "SCRIPTED_MODEL_PREFIX",
    "ScriptedModel",
    "ScriptedReply",
    "ScriptedRequest",
]

#: Requests for model ``scripted:<agent>`` are answered by the policy registered for ``<agent>``.
SCRIPTED_MODEL_PREFIX = "scripted:"

_ROUTES: dict[str, ApiName] = {"/v1/responses": "responses", "/v1/chat/completions": "chat"}
# The in-process client's base URL: ``.invalid`` can never resolve, so nothing leaves the process.
_IN_PROCESS_URL = "http://scripted.invalid/v1"


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """An HTTP answer: status, JSON payload and extra headers."""

    status: int
    payload: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, message: str, code: str | None = None) -> ScriptedReply:
        """An error in the OpenAI API's shape (``{"error": {"message", "type", "param", "code"}}``)."""
        kind = "invalid_request_error" if status < 500 else "server_error"
        return cls(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


@dataclass(frozen=True, slots=True)
class ScriptedRequest:
    """A request as read: which API and agent it is for, or the refusal it gets instead."""

    path: str
    api: ApiName | None
    agent: str | None
    """The agent named by ``scripted:<agent>``; None when the model is not a scripted one."""
    body: Any
    """The parsed JSON body; None when it did not parse."""
    refusal: ScriptedReply | None = None
    """The error answer when the request cannot be served (route, JSON, model); None otherwise."""


@dataclass(frozen=True, slots=True)
class _WireCall:
    call_id: str
    name: str
    arguments: str


class ScriptedModel:
    """An offline model: per-agent policies behind the OpenAI Responses and Chat Completions APIs.

    ``label`` says what its replies are, in every reply and every run made with it.
    """

    def __init__(self, policies: Mapping[str, Policy] | None = None, *, label: str = "scripted") -> None:
        self.label = label
        self._policies: dict[str, Policy] = dict(policies or {})
        self._ids = itertools.count(1)

    def add_policy(self, agent: str, policy: Policy) -> None:
        """Answer requests for model ``scripted:<agent>`` with ``policy``."""
        self._policies[agent] = policy

    def client(self) -> AsyncOpenAI:
        """An ``AsyncOpenAI`` client answered by this model in process, retries off; close it after use."""
        http_client = DefaultAsyncHttpxClient(transport=_InProcessTransport(self))
        return AsyncOpenAI(
            api_key=self.label, base_url=_IN_PROCESS_URL, max_retries=0, http_client=http_client
        )

    def read_request(self, method: str, path: str, raw_body: bytes) -> ScriptedRequest:
        """Route a request and read its body; ``refusal`` is set when it cannot be answered."""
        api = _ROUTES.get(path)
        if method != "POST" or api is None:
            return ScriptedRequest(
                path, None, None, None, ScriptedReply.error(404, f"no route for {method} {path}")
            )
        try:
            body = json.loads(raw_body)
        except ValueError as error:
            refusal = ScriptedReply.error(400, f"the request body is not JSON: {error}")
            return ScriptedRequest(path, api, None, None, refusal)
        if not isinstance(body, dict):
            refusal = ScriptedReply.error(400, "the request body must be a JSON object")
            return ScriptedRequest(path, api, None, body, refusal)
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith(SCRIPTED_MODEL_PREFIX):
            refusal = ScriptedReply.error(
                404, f"The model `{model}` does not exist; use scripted:<agent>.", "model_not_found"
            )
            return ScriptedRequest(path, api, None, body, refusal)
        return ScriptedRequest(path, api, model.removeprefix(SCRIPTED_MODEL_PREFIX), body)

    def answer(self, request: ScriptedRequest) -> ScriptedReply:
        """The reply to a request: its refusal, or the next step of the agent's policy."""
        if request.refusal is not None or request.api is None or request.agent is None:
            return request.refusal or ScriptedReply.error(400, "the request was not read")
        agent, body = request.agent, request.body
        policy = self._policies.get(agent)
        if policy is None:
            return ScriptedReply.error(
                404, f"no scripted policy is registered for agent {agent!r}", "model_not_found"
            )
        if body.get("stream"):
            return ScriptedReply.error(400, "the scripted model does not stream; send stream=false")
        try:
            parse = conversation_from_responses if request.api == "responses" else conversation_from_chat
            conversation = parse(agent, body)
        except (ScriptedModelError, KeyError, TypeError, AttributeError) as error:
            return ScriptedReply.error(400, f"invalid request: {error!r}")
        try:
            step = policy.next_step(conversation)
        except Exception as error:
            # A broken policy must fail the run visibly, not be retried as if the server were down.
            return ScriptedReply.error(
                400, f"the scripted policy for {agent!r} failed: {error!r}", "scripted_policy_error"
            )
        if isinstance(step, ToolCalls) and len(step.calls) > 1 and not conversation.parallel_tool_calls:
            return ScriptedReply.error(
                400, f"the policy for {agent!r} made {len(step.calls)} calls but parallel_tool_calls is false"
            )
        return ScriptedReply(200, self._render(request.api, step, conversation))

    def _render(self, api: ApiName, step: Step, conversation: Conversation) -> dict[str, Any]:
        calls = [
            _WireCall(f"call_scripted_{next(self._ids)}", call.name, call.arguments_json())
            for call in (step.calls if isinstance(step, ToolCalls) else ())
        ]
        text = step.text if isinstance(step, FinalMessage) else None
        render = _responses_body if api == "responses" else _chat_body
        return render(conversation, calls, text, next(self._ids)) | {OFFLINE_LABEL_FIELD: self.label}


class _InProcessTransport(httpx2.AsyncBaseTransport):
    """Hands each request of the client straight to the model."""

    def __init__(self, model: ScriptedModel) -> None:
        self._model = model

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        reply = self._model.answer(
            self._model.read_request(request.method, request.url.path, await request.aread())
        )
        return httpx2.Response(reply.status, json=reply.payload, headers=dict(reply.headers))


def _responses_body(
    conversation: Conversation, calls: list[_WireCall], text: str | None, number: int
) -> dict[str, Any]:
    body = conversation.body
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_scripted_{number}_{index}",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        }
        for index, call in enumerate(calls)
    ]
    if text is not None:
        content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        output.append(
            {
                "type": "message",
                "id": f"msg_scripted_{number}",
                "status": "completed",
                "role": "assistant",
                "content": content,
            }
        )
    input_tokens, output_tokens = _estimate_tokens(body), _estimate_tokens(output)
    now = int(time.time())
    return {
        "id": f"resp_scripted_{number}",
        "object": "response",
        "created_at": now,
        "completed_at": now,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": SCRIPTED_MODEL_PREFIX + conversation.agent,
        "output": output,
        "parallel_tool_calls": conversation.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
        "user": None,
    }


def _chat_body(
    conversation: Conversation, calls: list[_WireCall], text: str | None, number: int
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ]
    prompt_tokens, completion_tokens = _estimate_tokens(conversation.body), _estimate_tokens(message)
    return {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": SCRIPTED_MODEL_PREFIX + conversation.agent,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _estimate_tokens(data: Any) -> int:
    """A stand-in token count: one token per four characters of JSON, at least one."""
    return max(1, math.ceil(len(json.dumps(data)) / 4))
