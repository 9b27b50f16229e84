"""A fake OpenAI-compatible HTTP endpoint that plays scripted policies, for offline runs and tests.

It serves ``POST /v1/responses`` and ``POST /v1/chat/completions`` on 127.0.0.1 with the API's own
response shapes (``usage`` included), so the real ``openai`` client and the real agent loop run
unchanged against it. The requested ``model`` picks the policy: ``scripted:<agent>`` is answered by
the policy registered under ``<agent>``; any other model gets the API's 404 ``model_not_found``.

Everything it returns is labelled: the response ``model`` is ``scripted:<agent>`` and ids contain
``scripted``. Token counts in ``usage`` are estimates (one token per four characters of JSON), never
measurements. Tests can inject faults (:class:`HttpFault`, :class:`MalformedArguments`) and read every
request body it received (:attr:`ScriptedServer.requests`).

Usage::

    async with ScriptedServer({"writer": ScriptPolicy([...])}) as server:
        loop = AgentLoop(name="writer", instructions="...", model="scripted:writer", client=server.client())
        result = await loop.run("Write the introduction.", toolbox)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import itertools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self, TypeVar

from openai import AsyncOpenAI

from .scripted_model import (
    SCRIPTED_MODEL_PREFIX,
    Conversation,
    FinalMessage,
    Policy,
    ScriptedModelError,
    Step,
    ToolCalls,
    conversation_from_chat,
    conversation_from_responses,
)

__all__ = ["Fault", "HttpFault", "MalformedArguments", "RecordedRequest", "ScriptedServer"]

_MAX_BODY_BYTES = 32 * 1024 * 1024
_MAX_HEADERS = 100
_ROUTES: dict[str, Literal["responses", "chat"]] = {
    "/v1/responses": "responses",
    "/v1/chat/completions": "chat",
}


@dataclass(frozen=True, slots=True)
class HttpFault:
    """Answer the next request (of ``agent``, or of anyone) with an HTTP error instead of a step."""

    status: int
    retry_after_s: float | None = None
    """Sent as the ``retry-after`` header when set."""
    agent: str | None = None
    code: str | None = None
    """The error body's ``code``; by default what the API sends for the status (``rate_limit_exceeded``)."""


@dataclass(frozen=True, slots=True)
class MalformedArguments:
    """Cut the last character off the first call's arguments in the next tool-call reply."""

    agent: str | None = None


Fault = HttpFault | MalformedArguments


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received and the status it answered with."""

    path: str
    agent: str | None
    body: Any
    """The parsed JSON body, or None when it did not parse."""
    status: int


_F = TypeVar("_F", HttpFault, MalformedArguments)


@dataclass(frozen=True, slots=True)
class _WireCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    payload: dict[str, Any]
    headers: Mapping[str, str]


class ScriptedServer:
    """An OpenAI-compatible endpoint on an ephemeral loopback port, driven by per-agent policies."""

    def __init__(self, policies: Mapping[str, Policy] | None = None, *, host: str = "127.0.0.1") -> None:
        self._policies: dict[str, Policy] = dict(policies or {})
        self._host = host
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._clients: list[AsyncOpenAI] = []
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order, failed ones included."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on an ephemeral port of ``host``."""
        self._server = await asyncio.start_server(self._serve_connection, self._host, 0)

    async def close(self) -> None:
        """Close the clients made by :meth:`client`, stop listening and close every open connection."""
        if self._server is None:
            return
        for client in self._clients:
            await client.close()
        self._clients.clear()
        self._server.close()
        # Closing a transport ends its handler at the next read, without cancelling anything.
        for writer in self._connections:
            writer.close()
        await asyncio.gather(*self._connections.values())
        await self._server.wait_closed()
        self._server = None

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client, e.g. ``http://127.0.0.1:49152/v1``."""
        if self._server is None:
            raise RuntimeError("the scripted server is not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{self._host}:{port}/v1"

    def client(self) -> AsyncOpenAI:
        """An ``AsyncOpenAI`` client for this server, retries off; the server closes it when it closes."""
        client = AsyncOpenAI(api_key="scripted", base_url=self.base_url, max_retries=0)
        self._clients.append(client)
        return client

    def add_policy(self, agent: str, policy: Policy) -> None:
        """Answer requests for model ``scripted:<agent>`` with ``policy``."""
        self._policies[agent] = policy

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each one is used up by the first request it applies to, in queue order."""
        self._faults.extend(faults)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[writer] = task
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, target, headers, body = request
                reply = self._handle(method, target, body)
                keep_alive = headers.get("connection", "").lower() != "close"
                writer.write(_encode_reply(reply, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except _BadRequest as error:
            writer.write(_encode_reply(_error_reply(error.status, str(error)), keep_alive=False))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            self._connections.pop(writer, None)
            writer.close()

    def _handle(self, method: str, target: str, raw_body: bytes) -> _Reply:
        path = target.split("?", 1)[0]
        api = _ROUTES.get(path)
        if method != "POST" or api is None:
            return self._record(path, None, None, _error_reply(404, f"no route for {method} {path}"))
        try:
            body = json.loads(raw_body)
        except ValueError as error:
            return self._record(path, None, None, _error_reply(400, f"the request body is not JSON: {error}"))
        if not isinstance(body, dict):
            return self._record(path, None, body, _error_reply(400, "the request body must be a JSON object"))
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith(SCRIPTED_MODEL_PREFIX):
            reply = _error_reply(
                404, f"The model `{model}` does not exist; use scripted:<agent>.", "model_not_found"
            )
            return self._record(path, None, body, reply)
        agent = model.removeprefix(SCRIPTED_MODEL_PREFIX)
        return self._record(path, agent, body, self._answer(api, agent, body))

    def _answer(self, api: Literal["responses", "chat"], agent: str, body: dict[str, Any]) -> _Reply:
        fault = self._take_fault(HttpFault, agent)
        if fault is not None:
            return _fault_reply(fault, agent)
        policy = self._policies.get(agent)
        if policy is None:
            return _error_reply(
                404, f"no scripted policy is registered for agent {agent!r}", "model_not_found"
            )
        if body.get("stream"):
            return _error_reply(400, "the scripted server does not stream; send stream=false")
        try:
            parse = conversation_from_responses if api == "responses" else conversation_from_chat
            conversation = parse(agent, body)
        except (ScriptedModelError, KeyError, TypeError, AttributeError) as error:
            return _error_reply(400, f"invalid request: {error!r}")
        try:
            step = policy.next_step(conversation)
        except Exception as error:
            # A broken policy must fail the run visibly, not be retried as if the server were down.
            return _error_reply(
                400, f"the scripted policy for {agent!r} failed: {error!r}", "scripted_policy_error"
            )
        if isinstance(step, ToolCalls) and len(step.calls) > 1 and not conversation.parallel_tool_calls:
            return _error_reply(
                400, f"the policy for {agent!r} made {len(step.calls)} calls but parallel_tool_calls is false"
            )
        malformed = isinstance(step, ToolCalls) and self._take_fault(MalformedArguments, agent) is not None
        output = self._render_step(api, step, conversation, malformed)
        return _Reply(200, output, {})

    def _take_fault(self, kind: type[_F], agent: str) -> _F | None:
        for index, fault in enumerate(self._faults):
            if isinstance(fault, kind) and fault.agent in (None, agent):
                del self._faults[index]
                return fault
        return None

    def _render_step(
        self, api: Literal["responses", "chat"], step: Step, conversation: Conversation, malformed: bool
    ) -> dict[str, Any]:
        calls = [
            _WireCall(f"call_scripted_{next(self._ids)}", call.name, call.arguments_json())
            for call in (step.calls if isinstance(step, ToolCalls) else ())
        ]
        if malformed:
            calls[0] = dataclasses.replace(calls[0], arguments=calls[0].arguments[:-1])
        text = step.text if isinstance(step, FinalMessage) else None
        if api == "responses":
            return _responses_body(conversation, calls, text, next(self._ids))
        return _chat_body(conversation, calls, text, next(self._ids))

    def _record(self, path: str, agent: str | None, body: Any, reply: _Reply) -> _Reply:
        self.requests.append(RecordedRequest(path, agent, body, reply.status))
        return reply


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request from the stream, or None when the client closed the connection."""
    try:
        request_line = await reader.readline()
    except ValueError as error:
        raise _BadRequest(431, "request line too long") from error
    if not request_line:
        return None
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, f"malformed request line {request_line!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        if len(headers) >= _MAX_HEADERS:
            raise _BadRequest(431, "too many headers")
        name, separator, value = line.decode("latin-1").partition(":")
        if not separator:
            raise _BadRequest(400, f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as error:
            raise _BadRequest(400, "content-length is not a number") from error
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise _BadRequest(413, f"the body must be at most {_MAX_BODY_BYTES} bytes")
        body = await reader.readexactly(length)
    return method, target, headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise _BadRequest(400, f"malformed chunk size {size_line!r}") from error
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers carry nothing we use
            return bytes(body)
        if len(body) + size > _MAX_BODY_BYTES:
            raise _BadRequest(413, f"the body must be at most {_MAX_BODY_BYTES} bytes")
        body += await reader.readexactly(size)
        await reader.readline()


def _encode_reply(reply: _Reply, *, keep_alive: bool) -> bytes:
    content = json.dumps(reply.payload).encode()
    status = http.HTTPStatus(reply.status)
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        "content-type: application/json",
        f"content-length: {len(content)}",
        f"connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


def _error_reply(status: int, message: str, code: str | None = None) -> _Reply:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return _Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, {})


def _fault_reply(fault: HttpFault, agent: str) -> _Reply:
    headers = {} if fault.retry_after_s is None else {"retry-after": f"{fault.retry_after_s:g}"}
    if fault.status == 429:
        reply = _error_reply(429, f"Rate limit reached for scripted:{agent} (injected fault).")
        error = reply.payload["error"] | {"type": "requests", "code": fault.code or "rate_limit_exceeded"}
    else:
        reply = _error_reply(fault.status, f"Injected fault {fault.status} for scripted:{agent}.")
        error = reply.payload["error"] | {"code": fault.code}
    return _Reply(fault.status, {"error": error}, headers)


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
