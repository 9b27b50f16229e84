"""A fake OpenAI endpoint in process (httpx2.MockTransport) that records request bodies exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
from openai import AsyncOpenAI

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeOpenAI:
    """An OpenAI-compatible endpoint behind httpx2.MockTransport: records bodies, answers from a script."""

    def __init__(self, *answers: Handler) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        transport = httpx2.MockTransport(self.handle)
        self.client = AsyncOpenAI(
            api_key="sk-test",
            base_url="http://fake/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        return httpx2.Response(200, json=self.answers.pop(0)(body))


def message_item(text: str) -> dict[str, Any]:
    """A Responses output item: the assistant's final text."""
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def responses_answer(*output: dict[str, Any]) -> Handler:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"resp_{len(output)}",
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": body["model"],
            "output": list(output),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "usage": {
                "input_tokens": 10,
                "output_tokens": 5,
                "total_tokens": 15,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }

    return answer


def chat_answer(message: dict[str, Any], finish_reason: str) -> Handler:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    return answer
