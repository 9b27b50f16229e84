"""The pieces around a team run: the terminal view, the tool filter per role, the schema summary."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from mesh_tools.agent import TeamView, ToolCallRecord, TurnEvent, Usage
from mesh_tools.agent._live_view import describe_call
from mesh_tools.demo import demo_schema
from mesh_tools.document import MeshDocument
from mesh_tools.errors import AgentConfigError
from mesh_tools.tools import DocumentToolkit, InMemorySource, LimitedToolkit, schema_summary

from ..support import ARTICLE

SCHEMA = demo_schema()
SECTION = {"$tag": "section", "status": "draft", "children": []}
REJECTED = {
    "ok": False,
    "error": {"code": "invalid_value", "message": '"approved" is not valid', "hint": "one of draft, written"},
}


def record(name: str, arguments: object, result: object) -> ToolCallRecord:
    result_text = json.dumps(result)
    return ToolCallRecord(
        call_id="c1",
        name=name,
        arguments=json.dumps(arguments),
        result=result_text,
        ok=not (isinstance(result, dict) and result.get("ok") is False),
        started_at=0.0,
        duration_s=0.0,
    )


def event(agent: str, turn: int, *calls: ToolCallRecord, text: str | None = None) -> TurnEvent:
    return TurnEvent(
        agent=agent,
        turn=turn,
        api="responses",
        model=f"scripted:{agent}",
        response_model=f"scripted:{agent}",
        response_id="r",
        started_at=0.0,
        duration_s=0.0,
        attempts=1,
        retry_waits_s=(),
        usage=Usage(),
        notice=None,
        text=text,
        tool_calls=calls,
    )


APPEND = record(
    "append_child", {"parent_id": "root", "position": None, "element": SECTION}, {"ok": True, "id": "s1"}
)
STATUS = record("set_attribute", {"id": "s1", "attribute": {"name": "status", "value": "approved"}}, REJECTED)


def test_a_call_reads_as_what_it_did_and_what_came_back() -> None:
    assert describe_call(APPEND) == "append_child <section> into root → s1"
    assert describe_call(APPEND, detail=False) == "append_child <section> → s1"
    assert describe_call(STATUS) == (
        'set_attribute status="approved" on s1 → invalid_value: "approved" is not valid '
        "(hint: one of draft, written)"
    )
    assert describe_call(STATUS, detail=False) == 'set_attribute status="approved" → invalid_value'
    describe = record("describe_document", {"id": "root", "depth": None}, {"ok": True, "element": {}})
    assert describe_call(describe) == "describe_document root → ok"
    broken = ToolCallRecord("c2", "delete_element", '{"id": ', "{}", True, 0.0, 0.0)
    assert describe_call(broken) == "delete_element(malformed arguments) → ok"


def test_without_a_terminal_every_call_is_one_plain_line() -> None:
    out = io.StringIO()
    view = TeamView(Console(file=out, width=200), ["architect", "reviewer"], banner="SCRIPTED", scripted=True)
    assert not view.live
    with view:
        view.on_event(event("architect", 1, APPEND))
        view.on_event(event("reviewer", 3, STATUS))
        view.on_event(event("architect", 2, text="The outline is in place."))
    lines = out.getvalue().splitlines()
    assert "SCRIPTED" in lines[1]
    assert lines[3:] == [
        "architect  turn  1  ✓ append_child <section> into root → s1",
        'reviewer   turn  3  ✗ set_attribute status="approved" on s1 → invalid_value: '
        '"approved" is not valid (hint: one of draft, written)',
        "architect  turn  2  done: The outline is in place.",
    ]


async def test_on_a_terminal_the_board_shows_each_agent_and_the_live_document() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, height=60, force_terminal=True, color_system=None)
    document = MeshDocument(schema=SCHEMA)
    view = TeamView(console, ["architect", "reviewer"], banner="SCRIPTED", scripted=True)
    with view:
        view.watch(document)
        document.root.set_attribute("title", "Launch plan")
        view.on_event(event("architect", 1, APPEND))
        view.on_event(event("reviewer", 3, STATUS))
    final_frame = out.getvalue().rsplit("SCRIPTED", 1)[1]
    assert "architect · turn 1 · 1 edits" in final_frame
    assert "reviewer · turn 3 · 0 edits · 1 rejected" in final_frame
    assert '✗ set_attribute status="approved" → invalid_value' in final_frame
    assert 'report "Launch plan"' in final_frame


async def test_a_limited_toolkit_offers_and_runs_only_the_allowed_tools() -> None:
    toolkit = DocumentToolkit(InMemorySource(SCHEMA), schema=SCHEMA, path="plan.report")
    limited = LimitedToolkit(toolkit, ["open_document", "describe_document", "set_attribute"])
    assert limited.names == ("describe_document", "set_attribute")
    assert [tool["name"] for tool in limited.responses_tools()] == ["describe_document", "set_attribute"]
    assert [tool["function"]["name"] for tool in limited.chat_completions_tools()] == list(limited.names)

    refused = json.loads(await limited.call("delete_element", '{"id": "root"}'))
    assert refused["ok"] is False
    assert refused["error"]["code"] == "forbidden"
    assert refused["error"]["hint"] == "use one of: describe_document, set_attribute"
    title = {"id": "root", "attribute": {"name": "title", "value": "Plan"}}
    assert json.loads(await limited.call("set_attribute", json.dumps(title)))["ok"] is True
    assert limited.change_notice() is None

    with pytest.raises(AgentConfigError, match="none of the allowed tools"):
        LimitedToolkit(toolkit, ["open_document"])


def test_the_schema_summary_names_every_element_attribute_and_allowed_value() -> None:
    summary = schema_summary(SCHEMA)
    assert summary.startswith("The document's root is a `report` element with id `root`.")
    for tag in SCHEMA.tag_names:
        assert f"- `{tag}`" in summary
    assert '`status` (one of "draft", "written", "reviewed")' in summary
    assert "`level` (one of 1, 2, 3)" in summary
    assert "Children (`children`): `heading`, `paragraph`, `list`, `callout`, `section`." in summary


def test_the_schema_summary_names_text_and_its_marks() -> None:
    summary = schema_summary(ARTICLE)
    assert (
        '- `para` Attributes: `style` (one of "lead", "body"). '
        "Text (`text`, edited with the text tools; marks: bold, italic, code, link(href))."
    ) in summary
    assert "Text" not in summary.split("- `figure`")[1]
