"""openai-agents Agents seated in a team beside our loop's agents: the real SDK, the real openai client
over HTTP to the ScriptedServer, a real RoomServer on loopback, one connection per member."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agents import Agent, OpenAIResponsesModel

from mesh_tools.agent import (
    AGENTS_SDK_API,
    ScriptedModel,
    StopReason,
    TeamMember,
    TeamSpec,
    TurnEvent,
    agents_sdk_agent,
    load_agent_definitions,
    run_team,
    token_minter,
)
from mesh_tools.demo import DEMO_TASK, DEMO_TITLE, demo_policies
from mesh_tools.server import RoomServer
from mesh_tools.testing import ScriptedServer

from .test_team import AGENTS, PATH, ROOM, SCHEMA, SECRET, demo_members, scripted, server

__all__ = ["scripted", "server"]  # the fixtures, shared with the all-loop team tests

NOTICE_START = "Other participants edited"


def members(sdk: dict[str, Any]) -> list[TeamMember]:
    """The demo's three roles, those named in ``sdk`` seated as that openai-agents Agent."""
    return [
        dataclasses.replace(member, sdk_agent=sdk[member.name]) if member.name in sdk else member
        for member in demo_members()
    ]


def team(server: RoomServer, client: Any, sdk: dict[str, Any], **changes: Any) -> TeamSpec:
    spec = TeamSpec(
        url=server.url,
        room=ROOM,
        document_path=PATH,
        schema=SCHEMA,
        members=members(sdk),
        task=DEMO_TASK,
        tokens=token_minter(SECRET, ROOM),
        client=client,
    )
    return dataclasses.replace(spec, **changes)


def by_of(event: TurnEvent) -> set[str]:
    """Who the changes reported in this turn's tool results were made by."""
    found: set[str] = set()
    for call in event.tool_calls:
        result = json.loads(call.result)
        found.update(change["by"] for change in result.get("changes", ()) if "by" in change)
    return found


async def test_sdk_agents_and_loop_agents_co_edit_one_document_and_hear_each_other(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    # The writer is the user's own Agent with its own model; the reviewer a plain Agent on the team's
    # client; the architect runs in our loop.
    writer = Agent(
        name="writer",
        instructions=load_agent_definitions(AGENTS)["writer"].instructions(
            schema_summary="", document_path=PATH
        ),
        model=OpenAIResponsesModel("scripted:writer", scripted.client()),
    )
    reviewer = agents_sdk_agent("reviewer", "Review the report.")
    events: list[TurnEvent] = []
    result = await run_team(
        team(server, scripted.client(), {"writer": writer, "reviewer": reviewer}, on_event=events.append)
    )

    assert result.valid, result.violations
    assert result.convergence.converged, result.convergence
    outcome = {member.agent: member for member in result.members}
    for member in result.members:
        assert member.error is None and member.result is not None, member.error
        assert member.result.stop_reason == StopReason.FINAL_MESSAGE
        assert member.edits > 0
    assert {e.api for e in outcome["writer"].events} == {AGENTS_SDK_API}
    assert {e.api for e in outcome["architect"].events} == {"responses"}
    # Every turn went to the team's on_event as it happened, whichever framework made it.
    assert len(events) == sum(len(member.events) for member in result.members)
    # The SDK reports the scripted server's usage estimates per model call.
    assert outcome["reviewer"].result is not None and outcome["reviewer"].result.usage.total_tokens > 0

    # The same final document as the all-loop demo team writes.
    sections = [child["section"] for child in result.document["report"]["children"]]
    assert result.document["report"]["title"] == DEMO_TITLE
    assert {s["status"] for s in sections} == {"reviewed"}
    assert '"style": "note"' not in json.dumps(result.document)

    # Each hears the others' edits without re-reading: in edit results, named by participant...
    heard = {name: set().union(*(by_of(e) for e in m.events)) for name, m in outcome.items()}
    assert {"architect", "writer"} <= heard["reviewer"], heard
    assert "reviewer" in heard["writer"], heard
    # ...never of its own as someone else's.
    assert all(name not in ", ".join(sorted(names)) for name, names in heard.items()), heard
    # ...and, for the SDK agents, as change notices the SDK's input filter put before a model call:
    sdk_notices = [e.notice for name in ("writer", "reviewer") for e in outcome[name].events if e.notice]
    assert sdk_notices and all(n.startswith(NOTICE_START) for n in sdk_notices)
    requests = [r for r in scripted.requests if r.agent in ("writer", "reviewer")]
    sent = [
        item["content"]
        for r in requests
        for item in r.body["input"]
        if isinstance(item, dict) and item.get("role") == "user" and isinstance(item.get("content"), str)
    ]
    assert any(text.startswith(NOTICE_START) for text in sent), "the notice reached the model"


async def test_a_notice_stays_in_the_sdk_conversation_on_later_turns(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    # Two SDK seats: which of them gets a notice before a model call depends on when the others' edits
    # land (an edit that arrives during a tool call is reported in its result instead).
    sdk = {
        name: agents_sdk_agent(name, f"{name.capitalize()} the report.") for name in ("writer", "reviewer")
    }
    result = await run_team(team(server, scripted.client(), dict(sdk)))
    assert result.valid and result.scripted
    noticed = [(m.agent, e) for m in result.members if m.agent in sdk for e in m.events if e.notice]
    assert noticed
    agent, first = noticed[0]
    requests = [r for r in scripted.requests if r.agent == agent]
    # The SDK rebuilds its input from its own history each call; the notice is put back every time.
    later = requests[first.turn :]
    assert later and all(
        any(isinstance(i, dict) and i.get("content") == first.notice for i in r.body["input"]) for r in later
    )


async def test_an_sdk_agent_on_the_teams_scripted_model_is_never_a_model_result(server: RoomServer) -> None:
    result = await run_team(
        TeamSpec(
            url=server.url,
            room=ROOM,
            document_path=PATH,
            schema=SCHEMA,
            members=members(
                {name: agents_sdk_agent(name, "Do your part.") for name in ("architect", "writer")}
            ),
            task=DEMO_TASK,
            tokens=token_minter(SECRET, ROOM),
            client=ScriptedModel(demo_policies(SCHEMA)),
        )
    )
    assert result.valid and result.convergence.converged and result.scripted
    for member in result.members:
        assert member.result is not None and member.result.scripted, member.agent
