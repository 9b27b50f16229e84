"""The real openai client sends our tools to a fake endpoint; request bodies are asserted exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh_tools.tools import DocumentToolkit, InMemorySource

from .examples import BOARD, HTML, HTML_RESPONSES_TOOLS, rich
from .fake_openai import FakeOpenAI, chat_answer, responses_answer

APPEND = json.dumps(
    {
        "parent_id": "root",
        "position": None,
        "element": {"$tag": "body", "children": [{"$tag": "p", "class": "lead"}]},
    }
)


async def test_responses_api_round_trip() -> None:
    source = InMemorySource(HTML)
    kit = DocumentToolkit(source, schema=HTML, path="page.html")
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "append_child",
        "arguments": APPEND,
        "status": "completed",
    }
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
    }
    fake = FakeOpenAI(responses_answer(call), responses_answer(message))
    first = await fake.client.responses.create(
        model="gpt-test",
        input="Add a body with a lead paragraph.",
        tools=kit.responses_tools(),
        tool_choice="auto",
        parallel_tool_calls=False,
    )
    assert fake.requests[0] == (
        "/v1/responses",
        {
            "model": "gpt-test",
            "input": "Add a body with a lead paragraph.",
            "tools": HTML_RESPONSES_TOOLS,
            "tool_choice": "auto",
            "parallel_tool_calls": False,
        },
    )
    (item,) = first.output
    assert item.type == "function_call"
    output = await kit.call(item.name, item.arguments)
    body_id, p_id = json.loads(output)["ids"]
    version = json.loads(output)["version"]
    assert version.split(".")[1] == "0"  # no change by others logged yet
    assert output == json.dumps(
        {"ok": True, "id": body_id, "ids": {body_id: "body", p_id: "p"}, "version": version},
        separators=(",", ":"),
    )
    second = await fake.client.responses.create(
        model="gpt-test",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": item.call_id, "output": output}],
        tools=kit.responses_tools(),
        parallel_tool_calls=False,
    )
    assert fake.requests[1] == (
        "/v1/responses",
        {
            "model": "gpt-test",
            "previous_response_id": "resp_1",
            "input": [{"type": "function_call_output", "call_id": "call_1", "output": output}],
            "tools": HTML_RESPONSES_TOOLS,
            "parallel_tool_calls": False,
        },
    )
    assert second.output_text == "Done."
    assert source.documents["page.html"].to_json() == {
        "html": {"children": [{"body": {"children": [{"p": {"class": "lead"}}]}}]}
    }


async def test_chat_completions_round_trip_with_an_error_the_model_reads() -> None:
    source = InMemorySource(HTML)
    kit = DocumentToolkit(source, schema=HTML, path="page.html")
    bad = json.dumps({"parent_id": "root", "position": None, "element": {"$tag": "div", "children": []}})
    tool_calls = [
        {"id": "call_1", "type": "function", "function": {"name": "append_child", "arguments": bad}},
    ]
    fake = FakeOpenAI(
        chat_answer({"role": "assistant", "content": None, "tool_calls": tool_calls}, "tool_calls"),
        chat_answer({"role": "assistant", "content": "I could not add a div."}, "stop"),
    )
    chat_tools = kit.chat_completions_tools()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Add a div."}]
    first = await fake.client.chat.completions.create(
        model="gpt-test",
        messages=messages,
        tools=chat_tools,
        parallel_tool_calls=False,
    )
    assert fake.requests[0] == (
        "/v1/chat/completions",
        {
            "model": "gpt-test",
            "messages": [{"role": "user", "content": "Add a div."}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": tool["name"],
                        "description": tool["description"],
                        "parameters": tool["parameters"],
                        "strict": True,
                    },
                }
                for tool in HTML_RESPONSES_TOOLS
            ],
            "parallel_tool_calls": False,
        },
    )
    (tool_call,) = first.choices[0].message.tool_calls or []
    assert tool_call.type == "function"
    output = await kit.call(tool_call.function.name, tool_call.function.arguments)
    assert json.loads(output) == {
        "ok": False,
        "error": {
            "code": "unknown_tag",
            "message": "/element: unknown tag 'div'",
            "hint": "tags allowed here: body, p",
        },
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "tool", "tool_call_id": tool_call.id, "content": output},
    ]
    await fake.client.chat.completions.create(
        model="gpt-test",
        messages=messages,
        tools=chat_tools,
        parallel_tool_calls=False,
    )
    assert fake.requests[1][1]["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "tool", "tool_call_id": "call_1", "content": output},
    ]
    assert source.documents == {}  # rejected before the document was even opened


@pytest.mark.parametrize("schema", [rich(), BOARD], ids=["rich", "board"])
async def test_richer_schemas_reach_the_endpoint_unchanged(schema: Any) -> None:
    kit = DocumentToolkit(InMemorySource(schema), schema=schema)
    fake = FakeOpenAI(responses_answer(), chat_answer({"role": "assistant", "content": "ok"}, "stop"))
    await fake.client.responses.create(model="m", input="hi", tools=kit.responses_tools())
    await fake.client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=kit.chat_completions_tools(),
    )
    assert fake.requests[0][1]["tools"] == kit.responses_tools()
    assert fake.requests[1][1]["tools"] == kit.chat_completions_tools()
    assert all(tool["strict"] is True for tool in fake.requests[0][1]["tools"])
