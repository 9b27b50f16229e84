"""Teams end to end: real RoomServer on loopback, one RoomClient per agent, the real openai client over
HTTP to the ScriptedServer, and the demo's scripted architect, writer and reviewer."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mesh_tools.agent import (
    FinalMessage,
    ScriptPolicy,
    StopReason,
    TeamMember,
    TeamSpec,
    TokenFactory,
    ToolCall,
    ToolCalls,
    TurnEvent,
    load_agent_definitions,
    run_team,
    token_minter,
)
from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.demo import DEMO_TASK, DEMO_TITLE, demo_policies, demo_schema
from mesh_tools.errors import AgentConfigError, DocumentExistsError, InvalidOperationError
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.testing import HttpFault, ScriptedServer

from ..support import DOC_SCHEMA as OTHER_SCHEMA

AGENTS = Path(__file__).resolve().parents[2] / "agents"
SECRET = "team-tests-secret-0123456789abcdef"
ROOM = "team"
PATH = "reports/plan.report"
SCHEMA = demo_schema()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RoomServer]:
    async with RoomServer(data_dir=tmp_path, secret=SECRET) as room_server:
        yield room_server


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(demo_policies(SCHEMA)) as scripted_server:
        yield scripted_server


class RecordingTokens:
    """Mints real tokens and remembers who asked for one."""

    def __init__(self) -> None:
        self.minted: list[str] = []
        self._mint: TokenFactory = token_minter(SECRET, ROOM)

    def __call__(self, participant: str) -> str:
        self.minted.append(participant)
        return self._mint(participant)


def demo_members(path: str = PATH) -> list[TeamMember]:
    definitions = load_agent_definitions(AGENTS)
    return [
        TeamMember.from_definition(
            definitions[name], schema=SCHEMA, document_path=path, model=f"scripted:{name}"
        )
        for name in ("architect", "writer", "reviewer")
    ]


def spec(server: RoomServer, scripted: ScriptedServer, **changes: object) -> TeamSpec:
    base = TeamSpec(
        url=server.url,
        room=ROOM,
        document_path=PATH,
        schema=SCHEMA,
        members=demo_members(),
        task=DEMO_TASK,
        tokens=token_minter(SECRET, ROOM),
        client=scripted.client(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_three_agents_converge_on_one_valid_document(
    server: RoomServer, scripted: ScriptedServer, api: str
) -> None:
    tokens = RecordingTokens()
    events: list[TurnEvent] = []
    result = await run_team(spec(server, scripted, api=api, tokens=tokens, on_event=events.append))

    assert result.valid, result.violations
    assert result.convergence.converged, result.convergence
    assert set(result.convergence.replicas) == {"architect", "writer", "reviewer", "observer"}
    assert result.scripted
    # Each agent is its own participant with its own token and connection.
    assert sorted(tokens.minted) == ["architect", "observer", "reviewer", "writer"]
    for member in result.members:
        assert member.error is None and member.result is not None
        assert member.result.stop_reason == StopReason.FINAL_MESSAGE, member.result.final_text
        assert member.result.scripted
        assert member.edits > 0
    assert len(events) == sum(len(member.events) for member in result.members)

    root = result.document["report"]
    assert root["title"] == DEMO_TITLE
    sections = [child["section"] for child in root["children"]]
    assert [s["children"][0]["heading"]["text"] for s in sections] == [
        "Goals",
        "Scope",
        "Rollout",
        "Risks",
        "Success metrics",
    ]
    assert {s["status"] for s in sections} == {"reviewed"}
    text = json.dumps(result.document)
    assert "recieve" not in text and "seperate" not in text, "the reviewer fixes the writer's typos"
    assert '"style": "note"' not in text, "every brief became content"
    json.dumps(result.to_dict())  # the whole record is JSON-ready


async def test_rejected_calls_are_corrected_on_the_next_turn(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    result = await run_team(spec(server, scripted))
    rejected = {
        member.agent: [
            (event.turn, json.loads(call.result)["error"]["code"])
            for event in member.events
            for call in event.tool_calls
            if not call.ok
        ]
        for member in result.members
    }
    assert rejected["architect"] == []
    assert [code for _, code in rejected["writer"]] == ["child_not_allowed"] * 3
    assert [code for _, code in rejected["reviewer"]] == ["invalid_value"]
    for member in result.members:
        for turn, _ in rejected[member.agent]:
            following = member.events[turn]  # events are numbered from 1: index `turn` is the next one
            assert following.tool_calls and all(call.ok for call in following.tool_calls)
    rollout = next(
        child["section"]
        for child in result.document["report"]["children"]
        if child["section"]["children"][0]["heading"]["text"] == "Rollout"
    )
    assert [next(iter(child)) for child in rollout["children"]] == ["heading", "paragraph", "list"]
    assert rollout["children"][2]["list"]["ordered"] is True


async def test_a_member_sees_and_may_call_only_its_allowed_tools(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    scripted.add_policy(
        "reader",
        ScriptPolicy(
            [
                ToolCalls(
                    ToolCall("set_attribute", {"id": "root", "attribute": {"name": "title", "value": "x"}})
                ),
                FinalMessage("I may only read."),
            ]
        ),
    )
    reader = TeamMember(
        name="reader",
        instructions="Read the document.",
        model="scripted:reader",
        allowed_tools=("open_document", "describe_document"),
    )
    result = await run_team(spec(server, scripted, members=[reader]))

    (member,) = result.members
    (call,) = member.events[0].tool_calls
    assert not call.ok
    assert json.loads(call.result)["error"]["code"] == "forbidden"
    offered = [tool["name"] for tool in scripted.requests[0].body["tools"]]
    assert offered == ["describe_document"]
    assert "title" not in result.document["report"]


async def test_a_failing_model_is_reported_for_its_member_while_the_others_finish(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    scripted.inject(HttpFault(400, agent="reviewer"))
    result = await run_team(spec(server, scripted))

    by_name = {member.agent: member for member in result.members}
    reviewer = by_name["reviewer"]
    assert reviewer.result is None and reviewer.events == ()
    assert reviewer.error is not None and reviewer.error["code"] == "model_call_failed"
    assert by_name["writer"].result is not None
    assert by_name["writer"].result.stop_reason == StopReason.FINAL_MESSAGE
    assert result.valid and result.convergence.converged
    assert json.loads(json.dumps(result.to_dict()))["members"][2]["error"]["code"] == "model_call_failed"


async def test_a_single_agent_works_on_initial_content(server: RoomServer, scripted: ScriptedServer) -> None:
    initial = {"report": {"title": "Draft", "children": []}}
    scripted.add_policy(
        "editor",
        ScriptPolicy(
            [
                ToolCalls(ToolCall("describe_document", {"id": "root", "depth": None})),
                lambda conversation: ToolCalls(
                    ToolCall(
                        "set_attribute",
                        {
                            "id": conversation.exchanges[-1].result["element"]["$id"],
                            "attribute": {"name": "title", "value": "Final"},
                        },
                    )
                ),
                FinalMessage("Renamed."),
            ]
        ),
    )
    editor = TeamMember(name="editor", instructions="Rename the report.", model="scripted:editor")
    result = await run_team(spec(server, scripted, members=[editor], initial_json=initial))

    assert result.document["report"]["title"] == "Final"
    assert result.members[0].edits == 1
    assert result.valid and result.convergence.converged


async def test_an_existing_document_is_used_as_it_is_unless_content_is_asked_for(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    token = token_minter(SECRET, ROOM)("setup")
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    async with RoomClient(protocol=WebSocketClientProtocol(url=url, token=token)) as room:
        await room.sync.create(PATH, json={"report": {"title": "Kept"}}, schema=SCHEMA)
        await room.sync.create("other.doc", schema=OTHER_SCHEMA)

    with pytest.raises(DocumentExistsError, match="initial_json"):
        await run_team(spec(server, scripted, initial_json={"report": {}}))
    with pytest.raises(InvalidOperationError, match="another schema"):
        await run_team(spec(server, scripted, document_path="other.doc"))
    result = await run_team(spec(server, scripted))
    assert result.document["report"]["title"] == "Kept", "the architect keeps an existing title"


def test_a_team_needs_distinct_member_names() -> None:
    member = TeamMember(name="observer", instructions="-", model="scripted:observer")
    with pytest.raises(AgentConfigError, match="at least one member"):
        TeamSpec(url="ws://x", room=ROOM, document_path=PATH, schema=SCHEMA, members=[], task="t", tokens=str)
    with pytest.raises(AgentConfigError, match="repeated: observer") as raised:
        TeamSpec(
            url="ws://x",
            room=ROOM,
            document_path=PATH,
            schema=SCHEMA,
            members=[member, member],
            task="t",
            tokens=str,
        )
    assert "the observer's name" in str(raised.value)


async def test_a_failure_outside_the_model_calls_stops_the_team_and_is_raised_as_itself(
    server: RoomServer, scripted: ScriptedServer
) -> None:
    def broken_callback(event: TurnEvent) -> None:
        if event.agent == "writer":
            raise RuntimeError("the event sink broke")

    with pytest.raises(RuntimeError, match="the event sink broke"):
        await run_team(spec(server, scripted, on_event=broken_callback))
