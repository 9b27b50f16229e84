"""The offline backend: a ScriptedModel answers the real openai client in process, and says so."""

from __future__ import annotations

import httpx2
import pytest
from openai import AsyncOpenAI

from mesh_tools.agent import (
    OFFLINE_LABEL_FIELD,
    AgentLoop,
    FinalMessage,
    ScriptedModel,
    ScriptPolicy,
    ToolCall,
    ToolCalls,
)

from ..notebook_toolkit import NotebookToolkit

APIS = ["responses", "chat"]


def scribe_policy() -> ScriptPolicy:
    return ScriptPolicy([ToolCalls(ToolCall("add_note", {"text": "a"})), FinalMessage("Done.")])


@pytest.mark.parametrize("api", APIS)
async def test_a_run_on_the_scripted_model_is_labelled_by_the_model_it_ran_on(api: str) -> None:
    model = ScriptedModel({"scribe": scribe_policy()}, label="faulty")
    async with model.client() as client:
        loop = AgentLoop(name="scribe", instructions="-", model="scripted:scribe", api=api, client=client)  # type: ignore[arg-type]
        toolkit = NotebookToolkit()
        result = await loop.run("Add a note.", toolkit)

    assert result.scripted is True
    assert result.final_text == "Done." and list(toolkit.notes.values()) == ["a"]
    assert [event.response_model for event in result.events] == ["scripted:scribe"] * 2
    assert result.usage.total_tokens > 0


async def test_a_reply_without_the_stamp_is_a_model_result_whatever_the_model_is_called() -> None:
    # Production reads the stamp, never the name: an endpoint that calls its model "scripted:x" but
    # does not stamp its replies is taken for a model.
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200,
            json={
                "id": "resp_1",
                "object": "response",
                "created_at": 0,
                "status": "completed",
                "model": "scripted:scribe",
                "output": [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hi.", "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
            },
        )

    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    async with AsyncOpenAI(api_key="k", base_url="http://fake/v1", http_client=http_client) as client:
        loop = AgentLoop(name="scribe", instructions="-", model="scripted:scribe", client=client)
        result = await loop.run("Say hi.", NotebookToolkit())
    assert result.final_text == "Hi." and result.scripted is False


async def test_every_reply_carries_the_models_label_and_unknown_agents_get_a_404() -> None:
    model = ScriptedModel({"scribe": scribe_policy()})
    async with model.client() as client:
        raw = await client.responses.with_raw_response.create(model="scripted:scribe", input="Go.")
        assert raw.http_request.url.host == "scripted.invalid"  # never resolvable: nothing leaves
        assert (raw.parse().model_extra or {})[OFFLINE_LABEL_FIELD] == "scripted"
        with pytest.raises(Exception, match="no scripted policy is registered for agent 'ghost'"):
            await client.responses.create(model="scripted:ghost", input="Go.")
