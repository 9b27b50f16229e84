"""The scripted OpenAI-compatible server: wire shapes, routing, conversation reading and refusals."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from mesh_tools.agent import AgentLoop
from mesh_tools.agent._policy import conversation_from_chat, conversation_from_responses
from mesh_tools.errors import ModelCallError
from mesh_tools.testing import (
    Conversation,
    FinalMessage,
    HttpFault,
    ScriptedModelError,
    ScriptedServer,
    ScriptPolicy,
    Step,
    ToolCall,
    ToolCalls,
)

from ..notebook_toolkit import NotebookToolkit

TOOL_STEP = ToolCalls(ToolCall("add_note", {"text": "a"}), ToolCall("read_notes", {}))


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(
        {"scribe": ScriptPolicy([TOOL_STEP]), "closer": ScriptPolicy([FinalMessage("Done.")])}
    ) as s:
        yield s


async def post(server: ScriptedServer, path: str, body: Any, **options: Any) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await http.post(server.base_url + path, content=content, **options)


@pytest.mark.parametrize("agent", ["scribe", "closer"])
async def test_responses_replies_validate_against_the_sdk_model(server: ScriptedServer, agent: str) -> None:
    reply = await post(server, "/responses", {"model": f"scripted:{agent}", "input": "Go.", "tools": []})

    assert reply.status_code == 200
    response = Response.model_validate(reply.json())
    assert response.model == f"scripted:{agent}"
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0
    if agent == "closer":
        assert response.output_text == "Done."
    else:
        calls = [item for item in response.output if item.type == "function_call"]
        assert [(call.name, json.loads(call.arguments)) for call in calls] == [
            ("add_note", {"text": "a"}),
            ("read_notes", {}),
        ]
        assert len({call.call_id for call in calls}) == 2


@pytest.mark.parametrize("agent", ["scribe", "closer"])
async def test_chat_replies_validate_against_the_sdk_model(server: ScriptedServer, agent: str) -> None:
    body = {"model": f"scripted:{agent}", "messages": [{"role": "user", "content": "Go."}]}
    reply = await post(server, "/chat/completions", body)

    assert reply.status_code == 200
    completion = ChatCompletion.model_validate(reply.json())
    assert completion.model == f"scripted:{agent}"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    choice = completion.choices[0]
    if agent == "closer":
        assert (choice.finish_reason, choice.message.content, choice.message.tool_calls) == (
            "stop",
            "Done.",
            None,
        )
    else:
        assert choice.finish_reason == "tool_calls"
        assert [
            call.function.name for call in choice.message.tool_calls or [] if call.type == "function"
        ] == [
            "add_note",
            "read_notes",
        ]


async def test_a_model_that_is_not_scripted_gets_the_apis_404(server: ScriptedServer) -> None:
    client = server.client()
    with pytest.raises(openai.NotFoundError) as raised:
        await client.responses.create(model="gpt-5.4-mini", input="hi")
    assert raised.value.code == "model_not_found"
    assert [(request.agent, request.status) for request in server.requests] == [(None, 404)]


async def test_unknown_routes_and_bodies_that_are_not_json_are_refused(server: ScriptedServer) -> None:
    assert (await post(server, "/embeddings", {"model": "scripted:scribe"})).status_code == 404
    not_json = await post(server, "/responses", b"{not json")
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["error"]["message"]
    assert (await post(server, "/responses", [1, 2])).status_code == 400
    assert [request.status for request in server.requests] == [404, 400, 400]


async def test_streaming_is_refused(server: ScriptedServer) -> None:
    reply = await post(server, "/responses", {"model": "scripted:closer", "input": "Go.", "stream": True})
    assert reply.status_code == 400


async def test_a_chunked_request_body_is_read(server: ScriptedServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "scripted:closer", '
        yield b'"input": "Go."}'

    async with httpx2.AsyncClient() as http:
        reply = await http.post(server.base_url + "/responses", content=chunks())
    assert reply.status_code == 200
    assert Response.model_validate(reply.json()).output_text == "Done."


async def test_faults_can_target_one_agent(server: ScriptedServer) -> None:
    server.inject(HttpFault(503, agent="scribe"))
    closer = await post(server, "/responses", {"model": "scripted:closer", "input": "Go."})
    scribe = await post(server, "/responses", {"model": "scripted:scribe", "input": "Go."})
    assert (closer.status_code, scribe.status_code) == (200, 503)
    assert scribe.json()["error"]["type"] == "server_error"


async def test_an_exhausted_script_fails_the_run_without_retries(server: ScriptedServer) -> None:
    loop = AgentLoop(name="closer", instructions="-", model="scripted:closer", client=server.client())
    server.add_policy("closer", ScriptPolicy([TOOL_STEP]))
    with pytest.raises(ModelCallError, match="has 1 step"):
        await loop.run("Go.", NotebookToolkit())
    assert [request.status for request in server.requests] == [200, 400]


async def test_agents_with_different_policies_share_one_server(server: ScriptedServer) -> None:
    results = [
        await AgentLoop(
            name=name, instructions="-", model=f"scripted:{name}", client=server.client(), api=api
        ).run("Go.", NotebookToolkit())
        for name, api in [("closer", "chat"), ("closer", "responses")]
    ]
    assert [result.final_text for result in results] == ["Done.", "Done."]
    assert [request.agent for request in server.requests] == ["closer", "closer"]


RESPONSES_BODY: dict[str, Any] = {
    "model": "scripted:scribe",
    "instructions": "Be brief.",
    "input": [
        {"role": "developer", "content": [{"type": "input_text", "text": "Use ids."}]},
        {"role": "user", "content": "Tidy up."},
        {"type": "function_call", "call_id": "c1", "name": "add_note", "arguments": '{"text": "a"}'},
        {"type": "function_call", "call_id": "c2", "name": "read_notes", "arguments": "{"},
        {"type": "function_call_output", "call_id": "c1", "output": '{"ok": true, "id": "n1"}'},
        {"type": "function_call_output", "call_id": "c2", "output": "not json"},
        {"role": "user", "content": "bob edited n1"},
        {"role": "assistant", "content": "Looking again."},
        {"type": "function_call", "call_id": "c3", "name": "read_notes", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "c3",
            "output": [{"type": "input_text", "text": '{"ok": true}'}],
        },
    ],
    "tools": [{"type": "function", "name": "add_note"}, {"type": "function", "name": "read_notes"}],
    "parallel_tool_calls": False,
}

CHAT_BODY: dict[str, Any] = {
    "model": "scripted:scribe",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use ids."},
        {"role": "user", "content": "Tidy up."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add_note", "arguments": '{"text": "a"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "read_notes", "arguments": "{"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"ok": true, "id": "n1"}'},
        {"role": "tool", "tool_call_id": "c2", "content": "not json"},
        {"role": "user", "content": "bob edited n1"},
        {
            "role": "assistant",
            "content": "Looking again.",
            "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "read_notes", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c3", "content": '{"ok": true}'},
    ],
    "tools": [
        {"type": "function", "function": {"name": "add_note"}},
        {"type": "function", "function": {"name": "read_notes"}},
    ],
    "parallel_tool_calls": False,
}


@pytest.mark.parametrize(
    ("parse", "body"), [(conversation_from_responses, RESPONSES_BODY), (conversation_from_chat, CHAT_BODY)]
)
def test_both_apis_read_into_the_same_conversation(parse: Any, body: dict[str, Any]) -> None:
    conversation: Conversation = parse("scribe", body)

    assert conversation.agent == "scribe"
    assert conversation.instructions == "Be brief.\n\nUse ids."
    assert (conversation.input, conversation.notes) == ("Tidy up.", ("bob edited n1",))
    assert conversation.turn == 2
    assert conversation.tools == ("add_note", "read_notes")
    assert conversation.parallel_tool_calls is False
    assert [(e.turn, e.call_id, e.name) for e in conversation.exchanges] == [
        (1, "c1", "add_note"),
        (1, "c2", "read_notes"),
        (2, "c3", "read_notes"),
    ]
    first, second, third = conversation.exchanges
    assert (first.parsed_arguments, first.result) == ({"text": "a"}, {"ok": True, "id": "n1"})
    assert (second.parsed_arguments, second.output, second.result) == (None, "not json", None)
    assert third.result == {"ok": True}
    assert conversation.last("read_notes") == third
    assert conversation.latest_exchanges() == (third,)


def test_a_first_request_reads_as_turn_zero() -> None:
    conversation = conversation_from_responses("scribe", {"model": "scripted:scribe", "input": "Go."})
    assert (conversation.turn, conversation.exchanges, conversation.input) == (0, (), "Go.")


@pytest.mark.parametrize(
    ("input_items", "message"),
    [
        (
            [
                {"role": "user", "content": "x"},
                {"type": "function_call_output", "call_id": "zz", "output": "1"},
            ],
            "zz",
        ),
        (
            [
                {"role": "user", "content": "x"},
                {"type": "function_call", "call_id": "c9", "name": "n", "arguments": ""},
            ],
            "no tool output found for tool call",
        ),
        ([{"type": "function_call_output", "call_id": "c", "output": "1"}], "no tool call found"),
        ([{"role": "assistant", "content": "hi"}], "no user message"),
        ([{"role": "user", "content": "x"}, {"type": "web_search_call"}], "web_search_call"),
    ],
)
def test_histories_the_api_would_refuse_are_refused(input_items: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ScriptedModelError, match=message):
        conversation_from_responses("scribe", {"model": "scripted:scribe", "input": input_items})


async def test_an_unmatched_tool_output_is_refused_over_http(server: ScriptedServer) -> None:
    body = {"model": "scripted:closer", "messages": [{"role": "user", "content": "x"}]}
    body["messages"].append({"role": "tool", "tool_call_id": "ghost", "content": "{}"})
    reply = await post(server, "/chat/completions", body)
    assert reply.status_code == 400
    assert "ghost" in reply.json()["error"]["message"]


def test_a_policy_step_can_depend_on_earlier_results() -> None:
    def echo_id(conversation: Conversation) -> Step:
        exchange = conversation.last("add_note")
        assert exchange is not None
        return FinalMessage(f"added {exchange.result['id']}")

    policy = ScriptPolicy([TOOL_STEP, TOOL_STEP, echo_id])
    assert policy.next_step(conversation_from_chat("scribe", CHAT_BODY)) == FinalMessage("added n1")
    with pytest.raises(ValueError, match="at least one"):
        ToolCalls()
