"""A fake OpenAI-compatible HTTP endpoint that plays scripted policies, for tests.

It serves a :class:`~mesh_tools.agent.ScriptedModel` over HTTP/1.1 on 127.0.0.1: ``POST
/v1/responses`` and ``POST /v1/chat/completions`` with the API's own response shapes, so the real
``openai`` client, the real agent loop and the ``mesh-tools`` commands (``--base-url``) run unchanged
against it. The requested ``model`` picks the policy: ``scripted:<agent>`` is answered by the policy
registered under ``<agent>``; any other model gets the API's 404 ``model_not_found``.

Beyond what the model answers, tests can inject faults (:class:`HttpFault`, :class:`MalformedArguments`)
and read every request body the server received (:attr:`ScriptedServer.requests`).

Usage::

    async with ScriptedServer({"writer": ScriptPolicy([...])}) as server:
        loop = AgentLoop(name="writer", instructions="...", model="scripted:writer", client=server.client())
        result = await loop.run("Write the introduction.", toolkit)
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from openai import AsyncOpenAI

from ..agent import Policy, ScriptedModel, ScriptedReply, ScriptedRequest

__all__ = ["Fault", "HttpFault", "MalformedArguments", "RecordedRequest", "ScriptedServer"]

_MAX_BODY_BYTES = 32 * 1024 * 1024
_MAX_HEADERS = 100


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


class ScriptedServer:
    """An OpenAI-compatible endpoint on an ephemeral loopback port, driven by per-agent policies."""

    def __init__(self, policies: Mapping[str, Policy] | None = None, *, host: str = "127.0.0.1") -> None:
        self.model = ScriptedModel(policies)
        """The offline model that answers; the server adds HTTP, faults and the request record."""
        self._host = host
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._clients: list[AsyncOpenAI] = []
        self._faults: list[Fault] = []
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
        self.model.add_policy(agent, policy)

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
            writer.write(_encode_reply(ScriptedReply.error(error.status, str(error)), keep_alive=False))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            self._connections.pop(writer, None)
            writer.close()

    def _handle(self, method: str, target: str, raw_body: bytes) -> ScriptedReply:
        request = self.model.read_request(method, target.split("?", 1)[0], raw_body)
        reply = self._answer(request)
        self.requests.append(RecordedRequest(request.path, request.agent, request.body, reply.status))
        return reply

    def _answer(self, request: ScriptedRequest) -> ScriptedReply:
        if request.refusal is not None or request.agent is None:
            return self.model.answer(request)
        fault = self._take_fault(HttpFault, request.agent)
        if fault is not None:
            return _fault_reply(fault, request.agent)
        reply = self.model.answer(request)
        calls = _tool_calls(reply.payload) if reply.status == 200 else []
        if calls and self._take_fault(MalformedArguments, request.agent) is not None:
            calls[0]["arguments"] = calls[0]["arguments"][:-1]
        return reply

    def _take_fault(self, kind: type[_F], agent: str) -> _F | None:
        for index, fault in enumerate(self._faults):
            if isinstance(fault, kind) and fault.agent in (None, agent):
                del self._faults[index]
                return fault
        return None


def _tool_calls(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of a reply, as the mutable objects holding their ``arguments`` string."""
    if payload.get("object") == "response":
        return [item for item in payload["output"] if item["type"] == "function_call"]
    message = payload["choices"][0]["message"]
    return [call["function"] for call in message.get("tool_calls", [])]


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


def _encode_reply(reply: ScriptedReply, *, keep_alive: bool) -> bytes:
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


def _fault_reply(fault: HttpFault, agent: str) -> ScriptedReply:
    headers = {} if fault.retry_after_s is None else {"retry-after": f"{fault.retry_after_s:g}"}
    if fault.status == 429:
        reply = ScriptedReply.error(429, f"Rate limit reached for scripted:{agent} (injected fault).")
        error = reply.payload["error"] | {"type": "requests", "code": fault.code or "rate_limit_exceeded"}
    else:
        reply = ScriptedReply.error(fault.status, f"Injected fault {fault.status} for scripted:{agent}.")
        error = reply.payload["error"] | {"code": fault.code}
    return ScriptedReply(fault.status, {"error": error}, headers)
