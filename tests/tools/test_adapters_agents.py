"""openai-agents: the real Runner drives our FunctionTools with a scripted model, and over the wire."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, FunctionTool, OpenAIResponsesModel, RunConfig, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from mesh_tools.tools import DocumentToolkit, InMemorySource

from .examples import HTML, HTML_RESPONSES_TOOLS, rich
from .fake_openai import FakeOpenAI, message_item, responses_answer

NO_TRACING = RunConfig(tracing_disabled=True)


@pytest.fixture(autouse=True)
def no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield


def outputs(model: ScriptedModel, turn: int) -> list[str]:
    """The tool outputs the model received as input on a turn."""
    return [item["output"] for item in model.calls[turn].input if item.get("type") == "function_call_output"]


def test_function_tools_mirror_the_toolkit() -> None:
    kit = DocumentToolkit(InMemorySource(rich()), schema=rich(), path="doc")
    tools = kit.agents_sdk_tools()
    assert all(isinstance(tool, FunctionTool) for tool in tools)
    assert [(t.name, t.description, t.params_json_schema, t.strict_json_schema) for t in tools] == [
        (t.name, t.description, t.parameters, True) for t in kit.tools
    ]


async def test_runner_edits_the_document_and_reads_errors_instead_of_failing() -> None:
    source = InMemorySource(rich())
    kit = DocumentToolkit(source, schema=rich(), path="doc")
    heading = {"$tag": "heading", "text": "Plan", "level": 1}
    model = ScriptedModel(
        [
            [
                function_call(
                    "append_child", {"parent_id": "root", "position": None, "element": heading}, call_id="c1"
                )
            ],
            [
                function_call(
                    "set_attribute", {"id": "root", "attribute": {"name": "level", "value": 2}}, call_id="c2"
                ),
                function_call("set_attribute", '{"id": "root", "attribute": ', call_id="c3"),
            ],
            [
                function_call(
                    "set_attribute",
                    {"id": "root", "attribute": {"name": "title", "value": "T"}},
                    call_id="c4",
                )
            ],
            [assistant_message("Added the heading and the title.")],
        ]
    )
    agent = Agent(name="writer", instructions="Edit the document.", model=model, tools=kit.agents_sdk_tools())
    result = await Runner.run(agent, "Add a heading 'Plan' and title the document T.", run_config=NO_TRACING)
    model.assert_complete()
    assert result.final_output == "Added the heading and the title."
    heading_id = json.loads(outputs(model, 1)[0])["id"]
    assert [json.loads(output) for output in outputs(model, 2)[1:]] == [
        {
            "ok": False,
            "error": {
                "code": "unknown_attribute",
                "message": "<document> has no attribute 'level'",
                "hint": "attributes of <document>: title: string",
            },
        },
        {
            "ok": False,
            "error": {
                "code": "invalid_value",
                "message": "the arguments are not valid JSON: Expecting value: line 1 column 29 (char 28)",
                "hint": "send one JSON object",
            },
        },
    ]
    assert source.documents["doc"].to_json(include_ids=True) == {
        "document": {
            "$id": "root",
            "title": "T",
            "blocks": [{"heading": {"$id": heading_id, "text": "Plan", "level": 1}}],
        }
    }


async def test_runner_over_the_wire_sends_the_strict_schemas_unchanged() -> None:
    source = InMemorySource(HTML)
    kit = DocumentToolkit(source, schema=HTML, path="page.html")
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "describe_document",
        "arguments": '{"id": "root", "depth": null}',
        "status": "completed",
    }
    done = message_item("It is empty.")
    fake = FakeOpenAI(responses_answer(call), responses_answer(done))
    model = OpenAIResponsesModel(model="gpt-test", openai_client=fake.client)
    agent = Agent(name="reader", instructions="Read.", model=model, tools=kit.agents_sdk_tools())
    result = await Runner.run(agent, "What is in the page?", run_config=NO_TRACING)
    assert result.final_output == "It is empty."
    first, second = (body for _, body in fake.requests)
    assert first["tools"] == HTML_RESPONSES_TOOLS
    outputs_sent = [item for item in second["input"] if item.get("type") == "function_call_output"]
    assert outputs_sent == [
        {
            "type": "function_call_output",
            "call_id": "call_1",
            # The replica's client id, no change logged, and the state vector of a document that only
            # holds its root (the same everywhere).
            "output": '{"ok":true,"element":{"$tag":"html","$id":"root","children":[]},"version":"'
            + f'{source.documents["page.html"].ydoc.client_id}.0.AQAC"}}',
        }
    ]


def test_a_missing_sdk_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    kit = DocumentToolkit(InMemorySource(HTML), schema=HTML, path="page.html")
    monkeypatch.setitem(sys.modules, "agents", None)
    with pytest.raises(ImportError, match=r"needs openai-agents: pip install 'mesh-tools\[agents\]'"):
        kit.agents_sdk_tools()
    blocked: dict[str, Any] = {"mcp": None, "mcp.types": None, "mcp.server": None}
    for name, module in blocked.items():
        monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(ImportError, match=r"needs the MCP SDK: pip install 'mesh-tools\[mcp\]'"):
        kit.mcp_server()
