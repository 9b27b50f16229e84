"""The agent loop end to end: real openai client, HTTP on loopback, scripted server, test toolkit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mesh_tools.agent import (
    AgentLoop,
    Conversation,
    FinalMessage,
    RetryPolicy,
    ScriptPolicy,
    Step,
    StopReason,
    ToolCall,
    ToolCalls,
    TurnEvent,
)
from mesh_tools.errors import AgentConfigError, ModelCallError
from mesh_tools.testing import HttpFault, MalformedArguments, ScriptedServer

from ..notebook_toolkit import NotebookToolkit
from ..tools.fake_openai import FakeOpenAI, message_item, responses_answer

APIS = ["responses", "chat"]
FAST_RETRY = RetryPolicy(max_attempts=4, initial_wait_s=0.01, max_wait_s=1.0)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as scripted:
        yield scripted


def make_loop(server: ScriptedServer, api: str, *, name: str = "scribe", **settings: Any) -> AgentLoop:
    return AgentLoop(
        name=name,
        instructions="Keep the notebook tidy.",
        model=f"scripted:{name}",
        api=api,  # type: ignore[arg-type]
        client=server.client(),
        retry=settings.pop("retry", FAST_RETRY),
        **settings,
    )


def answered_bodies(server: ScriptedServer) -> list[dict[str, Any]]:
    return [request.body for request in server.requests if request.status == 200]


def tool_outputs(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(call id, output) pairs a request sends back, in order, for either API."""
    if "input" in body:
        return [
            (item["call_id"], item["output"])
            for item in body["input"]
            if item.get("type") == "function_call_output"
        ]
    return [
        (message["tool_call_id"], message["content"])
        for message in body["messages"]
        if message["role"] == "tool"
    ]


def tool_call_ids(body: dict[str, Any]) -> list[str]:
    """Ids of the tool calls a request's history holds, in order, for either API."""
    if "input" in body:
        return [item["call_id"] for item in body["input"] if item.get("type") == "function_call"]
    return [call["id"] for message in body["messages"] for call in message.get("tool_calls") or []]


def user_texts(body: dict[str, Any]) -> list[str]:
    history = body.get("input") or body["messages"]
    return [item["content"] for item in history if item.get("role") == "user"]


def delete_added_note(conversation: Conversation) -> Step:
    exchange = conversation.last("add_note")
    assert exchange is not None
    return ToolCalls(ToolCall("delete_note", {"id": exchange.result["id"]}))


@pytest.mark.parametrize("api", APIS)
async def test_policy_uses_ids_from_earlier_results_and_the_run_ends_on_a_final_message(
    server: ScriptedServer, api: str
) -> None:
    server.add_policy(
        "scribe",
        ScriptPolicy(
            [
                ToolCalls(ToolCall("add_note", {"text": "draft"})),
                delete_added_note,
                FinalMessage("Removed the draft."),
            ]
        ),
    )
    toolkit = NotebookToolkit()
    result = await make_loop(server, api).run("Add a draft note, then remove it.", toolkit)

    assert result.stop_reason is StopReason.FINAL_MESSAGE
    assert result.final_text == "Removed the draft."
    assert result.turns == 3
    assert toolkit.notes == {}
    assert [call for call, _ in toolkit.calls] == ["add_note", "delete_note"]
    assert json.loads(toolkit.calls[1][1]) == {"id": "n1"}
    assert result.scripted is True
    assert all(event.response_model == "scripted:scribe" for event in result.events)
    assert [event.turn for event in result.events] == [1, 2, 3]
    assert json.loads(json.dumps(result.to_dict()))["stop_reason"] == "final_message"


@pytest.mark.parametrize("api", APIS)
async def test_usage_is_the_sum_of_what_the_server_reported(server: ScriptedServer, api: str) -> None:
    server.add_policy("scribe", ScriptPolicy([ToolCalls(ToolCall("read_notes", {})), FinalMessage("Empty.")]))
    result = await make_loop(server, api).run("Read the notes.", NotebookToolkit())

    assert [event.usage.total_tokens for event in result.events] == [
        event.usage.input_tokens + event.usage.output_tokens for event in result.events
    ]
    assert result.usage.total_tokens == sum(event.usage.total_tokens for event in result.events) > 0
    assert result.usage.input_tokens == sum(event.usage.input_tokens for event in result.events)


@pytest.mark.parametrize("api", APIS)
async def test_a_tool_error_goes_back_verbatim_and_the_model_recovers(
    server: ScriptedServer, api: str
) -> None:
    def read_after_error(conversation: Conversation) -> Step:
        failed = conversation.last("delete_note")
        assert failed is not None and failed.result["error"]["code"] == "not_found"
        return ToolCalls(ToolCall("read_notes", {}))

    def delete_first_listed(conversation: Conversation) -> Step:
        listing = conversation.last("read_notes")
        assert listing is not None
        return ToolCalls(ToolCall("delete_note", {"id": listing.result["notes"][0]["id"]}))

    server.add_policy(
        "scribe",
        ScriptPolicy(
            [
                ToolCalls(ToolCall("delete_note", {"id": "n99"})),
                read_after_error,
                delete_first_listed,
                FinalMessage("Deleted."),
            ]
        ),
    )
    toolkit = NotebookToolkit()
    toolkit.edit_by_other("bob", "stale")
    toolkit.change_notice()  # the agent starts knowing the notebook as it is
    result = await make_loop(server, api).run("Delete the stale note.", toolkit)

    assert result.stop_reason is StopReason.FINAL_MESSAGE
    assert toolkit.notes == {}
    first = result.events[0].tool_calls[0]
    assert first.ok is False
    assert [event.tool_calls[0].ok for event in result.events[1:3]] == [True, True]
    second_request = answered_bodies(server)[1]
    assert tool_outputs(second_request) == [(first.call_id, first.result)]
    assert json.loads(first.result)["error"]["hint"] == "call read_notes for the ids"


async def test_malformed_arguments_are_reported_and_retried_by_the_model(server: ScriptedServer) -> None:
    def retry_if_rejected(conversation: Conversation) -> Step:
        rejected = conversation.last("add_note")
        assert rejected is not None and rejected.parsed_arguments is None
        assert rejected.result["error"]["code"] == "invalid_arguments"
        return ToolCalls(ToolCall("add_note", {"text": "fixed"}))

    server.add_policy(
        "scribe",
        ScriptPolicy(
            [ToolCalls(ToolCall("add_note", {"text": "broken"})), retry_if_rejected, FinalMessage("ok")]
        ),
    )
    server.inject(MalformedArguments())
    toolkit = NotebookToolkit()
    result = await make_loop(server, "responses").run("Add a note.", toolkit)

    assert result.stop_reason is StopReason.FINAL_MESSAGE
    assert result.events[0].tool_calls[0].arguments == '{"text": "broken"'
    assert result.events[0].tool_calls[0].ok is False
    assert list(toolkit.notes.values()) == ["fixed"]


@pytest.mark.parametrize("api", APIS)
async def test_max_turns_stops_the_run_after_running_the_last_turns_tools(
    server: ScriptedServer, api: str
) -> None:
    class AlwaysRead:
        def next_step(self, conversation: Conversation) -> Step:
            return ToolCalls(ToolCall("read_notes", {}))

    server.add_policy("scribe", AlwaysRead())
    toolkit = NotebookToolkit()
    result = await make_loop(server, api, max_turns=3).run("Keep reading.", toolkit)

    assert result.stop_reason is StopReason.MAX_TURNS
    assert result.final_text is None
    assert result.turns == 3
    assert len(answered_bodies(server)) == 3
    assert len(toolkit.calls) == 3


@pytest.mark.parametrize("api", APIS)
async def test_the_token_budget_stops_the_run_once_reported_usage_reaches_it(api: str) -> None:
    class AlwaysRead:
        def next_step(self, conversation: Conversation) -> Step:
            return ToolCalls(ToolCall("read_notes", {}))

    async with ScriptedServer({"scribe": AlwaysRead()}) as reference:
        first_turn = (await make_loop(reference, api, max_turns=1).run("Read.", NotebookToolkit())).usage
    async with ScriptedServer({"scribe": AlwaysRead()}) as server:
        # One token more than the first turn used: the run must go on to turn 2 and stop there.
        loop = make_loop(server, api, max_turns=50, token_budget=first_turn.total_tokens + 1)
        result = await loop.run("Read.", NotebookToolkit())

    assert result.stop_reason is StopReason.TOKEN_BUDGET
    assert result.turns == 2
    assert result.events[0].usage == first_turn
    assert result.usage.total_tokens >= first_turn.total_tokens + 1
    assert result.final_text is None


@pytest.mark.parametrize("api", APIS)
async def test_rate_limits_and_server_errors_are_retried_honouring_retry_after(
    server: ScriptedServer, api: str
) -> None:
    server.add_policy(
        "scribe", ScriptPolicy([ToolCalls(ToolCall("add_note", {"text": "a"})), FinalMessage("ok")])
    )
    server.inject(HttpFault(429, retry_after_s=0.05), HttpFault(500), HttpFault(503, retry_after_s=0.02))
    toolkit = NotebookToolkit()
    result = await make_loop(server, api).run("Add a note.", toolkit)

    assert result.stop_reason is StopReason.FINAL_MESSAGE
    assert [request.status for request in server.requests] == [429, 500, 503, 200, 200]
    first = result.events[0]
    assert first.attempts == 4
    assert first.retry_waits_s[0] == 0.05
    assert 0 <= first.retry_waits_s[1] <= FAST_RETRY.max_wait_s
    assert first.retry_waits_s[2] == 0.02
    assert result.events[1].attempts == 1
    assert list(toolkit.notes.values()) == ["a"]  # the retried turn ran its tool exactly once


async def test_a_server_that_keeps_failing_raises_after_the_last_attempt(server: ScriptedServer) -> None:
    server.add_policy("scribe", ScriptPolicy([FinalMessage("never")]))
    server.inject(*[HttpFault(500)] * FAST_RETRY.max_attempts)
    with pytest.raises(ModelCallError, match="after 4 attempt"):
        await make_loop(server, "responses").run("Anything.", NotebookToolkit())
    assert len(server.requests) == FAST_RETRY.max_attempts


async def test_a_retry_after_longer_than_the_policy_allows_is_not_waited_for(server: ScriptedServer) -> None:
    server.add_policy("scribe", ScriptPolicy([FinalMessage("never")]))
    server.inject(HttpFault(429, retry_after_s=3600))
    with pytest.raises(ModelCallError, match="after 1 attempt"):
        await make_loop(server, "chat").run("Anything.", NotebookToolkit())


async def test_a_rate_limit_for_exhausted_quota_is_not_retried(server: ScriptedServer) -> None:
    server.add_policy("scribe", ScriptPolicy([FinalMessage("never")]))
    server.inject(HttpFault(429, code="insufficient_quota"), HttpFault(429))
    with pytest.raises(ModelCallError, match="after 1 attempt"):
        await make_loop(server, "responses").run("Anything.", NotebookToolkit())
    assert [request.status for request in server.requests] == [429]


async def test_a_refused_request_is_not_retried(server: ScriptedServer) -> None:
    loop = AgentLoop(
        name="ghost", instructions="-", model="scripted:ghost", client=server.client(), retry=FAST_RETRY
    )
    with pytest.raises(ModelCallError, match="no scripted policy"):
        await loop.run("Anything.", NotebookToolkit())
    assert [request.status for request in server.requests] == [404]


@pytest.mark.parametrize("api", APIS)
async def test_parallel_calls_run_concurrently_and_results_go_back_by_id_in_call_order(
    server: ScriptedServer, api: str
) -> None:
    texts = ["slow", "medium", "fast"]
    server.add_policy(
        "scribe",
        ScriptPolicy(
            [ToolCalls(*(ToolCall("add_note", {"text": text}) for text in texts)), FinalMessage("ok")]
        ),
    )
    toolkit = NotebookToolkit()
    toolkit.gate = asyncio.Barrier(len(texts))
    toolkit.delays = {"slow": 0.06, "medium": 0.03}
    result = await make_loop(server, api).run("Add three notes at once.", toolkit)

    assert toolkit.max_in_flight == 3
    assert [json.loads(arguments)["text"] for arguments in toolkit.finished] == ["fast", "medium", "slow"]
    records = result.events[0].tool_calls
    assert [json.loads(record.result)["text"] for record in records] == texts
    second_request = answered_bodies(server)[1]
    outputs = tool_outputs(second_request)
    assert (
        [call_id for call_id, _ in outputs] == tool_call_ids(second_request) == [r.call_id for r in records]
    )
    assert [json.loads(output)["text"] for _, output in outputs] == texts
    assert answered_bodies(server)[0]["parallel_tool_calls"] is True


@pytest.mark.parametrize("api", APIS)
async def test_without_parallel_tool_calls_the_request_says_so_and_calls_run_one_by_one(
    server: ScriptedServer, api: str
) -> None:
    server.add_policy(
        "scribe",
        ScriptPolicy([ToolCalls(ToolCall("add_note", {"text": "one"})), FinalMessage("ok")]),
    )
    toolkit = NotebookToolkit()
    await make_loop(server, api, parallel_tool_calls=False).run("Add a note.", toolkit)

    assert all(body["parallel_tool_calls"] is False for body in answered_bodies(server))
    assert toolkit.max_in_flight == 1


async def test_a_policy_that_breaks_parallel_tool_calls_false_is_refused(server: ScriptedServer) -> None:
    server.add_policy(
        "scribe", ScriptPolicy([ToolCalls(ToolCall("read_notes", {}), ToolCall("read_notes", {}))])
    )
    with pytest.raises(ModelCallError, match="parallel_tool_calls is false"):
        await make_loop(server, "chat", parallel_tool_calls=False).run("Read.", NotebookToolkit())


@pytest.mark.parametrize("api", APIS)
async def test_change_notices_appear_in_the_next_request(server: ScriptedServer, api: str) -> None:
    seen_notes: list[tuple[str, ...]] = []

    def remember(step: Step) -> Any:
        def play(conversation: Conversation) -> Step:
            seen_notes.append(conversation.notes)
            return step

        return play

    server.add_policy(
        "scribe",
        ScriptPolicy(
            [
                remember(ToolCalls(ToolCall("read_notes", {}))),
                remember(FinalMessage("ok")),
                remember(FinalMessage("")),
            ]
        ),
    )
    toolkit = NotebookToolkit()

    def other_participant_edits(event: TurnEvent) -> None:
        if event.turn == 1:
            toolkit.edit_by_other("alice", "budget table")

    loop = make_loop(server, api, on_event=other_participant_edits)
    result = await loop.run("Read the notes.", toolkit)

    notice = "alice added note n1: 'budget table'"
    first, second = answered_bodies(server)
    assert user_texts(first) == ["Read the notes."]
    assert user_texts(second) == ["Read the notes.", notice]
    history = second.get("input") or second["messages"]
    assert history[-1]["content"] == notice  # after the tool results, just before the model's turn
    assert seen_notes == [(), (notice,)]
    assert [event.notice for event in result.events] == [None, notice]


async def test_responses_requests_carry_flat_strict_tools_and_the_whole_history(
    server: ScriptedServer,
) -> None:
    server.add_policy(
        "scribe", ScriptPolicy([ToolCalls(ToolCall("add_note", {"text": "x"})), FinalMessage("ok")])
    )
    toolkit = NotebookToolkit()
    await make_loop(server, "responses", temperature=0.2).run("Add x.", toolkit)

    first, second = answered_bodies(server)
    assert first["model"] == "scripted:scribe"
    assert first["instructions"] == "Keep the notebook tidy."
    assert first["tools"] == toolkit.responses_tools()
    assert all(tool["strict"] is True and "function" not in tool for tool in first["tools"])
    assert first["tool_choice"] == "auto"
    assert first["parallel_tool_calls"] is True
    assert first["store"] is False
    assert first["temperature"] == 0.2
    assert "previous_response_id" not in second
    assert second["input"][: len(first["input"])] == first["input"]
    call, output = second["input"][len(first["input"]) :]
    assert call.keys() == {"type", "call_id", "name", "arguments"}
    assert (call["type"], call["name"], json.loads(call["arguments"])) == (
        "function_call",
        "add_note",
        {"text": "x"},
    )
    assert output["type"] == "function_call_output" and output["call_id"] == call["call_id"]


async def test_chat_requests_carry_nested_strict_tools_and_the_whole_history(server: ScriptedServer) -> None:
    server.add_policy(
        "scribe", ScriptPolicy([ToolCalls(ToolCall("add_note", {"text": "x"})), FinalMessage("ok")])
    )
    toolkit = NotebookToolkit()
    await make_loop(server, "chat").run("Add x.", toolkit)

    first, second = answered_bodies(server)
    assert first["messages"] == [
        {"role": "system", "content": "Keep the notebook tidy."},
        {"role": "user", "content": "Add x."},
    ]
    assert first["tools"] == toolkit.chat_completions_tools()
    assert all(tool["function"]["strict"] is True for tool in first["tools"])
    assert first["tool_choice"] == "auto"
    assert "temperature" not in first
    assert second["messages"][:2] == first["messages"]
    assistant, tool = second["messages"][2:]
    assert assistant["role"] == "assistant" and assistant["content"] is None
    (call,) = assistant["tool_calls"]
    assert tool == {"role": "tool", "tool_call_id": call["id"], "content": tool["content"]}
    assert json.loads(tool["content"])["id"] == "n1"


async def test_events_reach_sync_and_async_callbacks_as_json(server: ScriptedServer) -> None:
    server.add_policy("scribe", ScriptPolicy([ToolCalls(ToolCall("read_notes", {})), FinalMessage("done")]))
    received: list[dict[str, Any]] = []

    async def record(event: TurnEvent) -> None:
        await asyncio.sleep(0)
        received.append(json.loads(json.dumps(event.to_dict())))

    result = await make_loop(server, "responses", on_event=record).run("Read.", NotebookToolkit())

    assert [event["turn"] for event in received] == [1, 2]
    first = received[0]
    assert first["agent"] == "scribe" and first["model"] == "scripted:scribe" and first["api"] == "responses"
    assert first["started_at"] > 0 and first["duration_s"] >= 0
    assert first["usage"]["total_tokens"] > 0
    (call,) = first["tool_calls"]
    assert (call["name"], call["arguments"], call["ok"]) == ("read_notes", "{}", True)
    assert json.loads(call["result"]) == {"ok": True, "notes": []}
    assert call["duration_s"] >= 0
    assert received[1]["text"] == "done" and received[1]["tool_calls"] == []
    assert [json.loads(json.dumps(event.to_dict())) for event in result.events] == received


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"api": "soap"}, "api 'soap'"),
        ({"max_turns": 0}, "max_turns"),
        ({"token_budget": 0}, "token_budget"),
        ({"temperature": 3.0}, "temperature"),
        ({"name": "has space"}, "name 'has space'"),
        ({"retry": RetryPolicy(max_attempts=0)}, "max_attempts"),
    ],
)
def test_invalid_settings_are_refused_with_a_typed_error(settings: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"name": "scribe", "instructions": "-", "model": "m"} | settings
    with pytest.raises(AgentConfigError, match=message):
        AgentLoop(**arguments)


async def test_without_a_client_or_api_key_the_run_explains_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    loop = AgentLoop(name="scribe", instructions="-", model="gpt-5.4-mini")
    with pytest.raises(AgentConfigError) as raised:
        await loop.run("Anything.", NotebookToolkit())
    assert "OPENAI_API_KEY" in str(raised.value)


async def test_responses_keep_encrypted_reasoning_across_turns_without_storing_anything() -> None:
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Add the note first."}],
        "encrypted_content": "gAAAA-opaque",
    }
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "add_note",
        "arguments": '{"text": "x"}',
        "status": "completed",
    }
    done = message_item("ok")
    fake = FakeOpenAI(responses_answer(reasoning, call), responses_answer(done))
    loop = AgentLoop(
        name="scribe", instructions="Keep it.", model="o-test", api="responses", client=fake.client
    )
    await loop.run("Add x.", NotebookToolkit())
    (_, first), (_, second) = fake.requests
    assert first["store"] is False
    assert first["include"] == ["reasoning.encrypted_content"]
    assert second["input"][1] == reasoning
    assert second["input"][2]["type"] == "function_call"
