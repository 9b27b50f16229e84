"""Any agent on the same suite: an openai-agents Agent and an MCP client, through the room; and runs
recorded to a file and scored again offline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mesh_tools.cli import main
from mesh_tools.evaluation import (
    AgentReply,
    EvalConfig,
    MCPClientRunner,
    OpenAIAgentsRunner,
    ReplayPolicy,
    Seat,
    Task,
    build_report,
    load_suite,
    play_policy,
    rescore,
    run_suite,
    write_recording,
)
from mesh_tools.testing import ScriptedServer

EVALS = Path(__file__).resolve().parents[2] / "evals"
TASKS = ["board-add-task", "team-thread-moderation", "page-embed-video"]


async def test_an_openai_agents_agent_is_evaluated_like_our_loop() -> None:
    # The scripted endpoint plays each agent's reference: the Agent SDK runs its own loop against it.
    episodes = []
    for task in load_suite(EVALS / "core").only(TASKS).tasks:
        policies = {agent.name: ReplayPolicy(agent.reference) for agent in task.agents}
        async with ScriptedServer(policies) as endpoint:
            runner = OpenAIAgentsRunner("scripted:{agent}", endpoint.client(), model_result=False)
            run = await run_suite(
                load_suite(EVALS / "core").only([task.id]),
                EvalConfig(model="openai-agents", trials=1),
                runner=lambda t, s, played=runner: played,
            )
        episodes += run.episodes
    assert [(e.task_id, e.success, e.error) for e in episodes] == [(t, True, None) for t in TASKS]
    team = next(e for e in episodes if e.task_id == "team-thread-moderation")
    assert {call.agent for call in team.calls} == {"moderator", "helper"}
    # Multi-agent measures come from the SDK seats' recorded calls as from our loop's.
    assert team.multi_agent is not None and team.multi_agent.converged and team.multi_agent.replicas == 3
    assert team.multi_agent.writes == sum(call.write and call.ok for call in team.calls)
    # The SDK reports its tokens; each model call after the first is a new turn of the record.
    adding = episodes[0]
    assert adding.usage.total_tokens > 0 and adding.turns == 3
    report = build_report(run.info, episodes)
    assert report["model_result"] is False and report["run"]["backend"] == "runner"
    assert report["run"]["label"] == (
        "OFFLINE RUNNER RUN (openai-agents:scripted:{agent}): no LLM called; not a model result"
    )


class ReferenceOverMCP:
    """An MCP client agent: plays its task's reference, each call through the MCP session."""

    def __init__(self, task: Task) -> None:
        self.policies = {agent.name: ReplayPolicy(agent.reference) for agent in task.agents}

    async def __call__(self, client: Any, seat: Seat) -> AgentReply:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        assert listed == set(seat.toolkit.names)

        async def call(name: str, arguments: str) -> str:
            result = await client.call_tool(name, json.loads(arguments))
            return str(result.content[0].text)

        return await play_policy(self.policies[seat.name], seat, call, turn_delay_s=0.005)


async def test_an_mcp_client_session_is_evaluated_and_its_calls_recorded(tmp_path: Path) -> None:
    suite = load_suite(EVALS / "core").only(TASKS)

    def cast(task: Task, start: Mapping[str, Any]) -> MCPClientRunner:
        return MCPClientRunner(ReferenceOverMCP(task), label="mcp-reference", model_result=False)

    run = await run_suite(suite, EvalConfig(model="mcp", trials=1), runner=cast)
    assert all(e.success for e in run.episodes), [(e.task_id, e.error, e.goal) for e in run.episodes]
    adding = run.episodes[0]
    assert [call.tool for call in adding.calls] == ["describe_document", "append_child"]
    assert [call.outcome.value for call in adding.calls] == ["ok", "ok"]

    # Recorded, then scored again offline: the same verdicts, and the report says it was re-scored.
    path = write_recording(run, tmp_path / "recording.json")
    again = rescore(path, suite)
    assert [(e.task_id, e.success) for e in again.episodes] == [(e.task_id, e.success) for e in run.episodes]
    assert again.info.rescored_at is not None and "RE-SCORED offline" in again.info.label
    assert again.info.model_result is False and again.info.model == run.info.model


async def test_a_changed_goal_changes_the_rescored_verdict(tmp_path: Path) -> None:
    suite = load_suite(EVALS / "core").only(["board-add-task"])
    run = await run_suite(suite, EvalConfig(model="scripted", trials=1))
    path = write_recording(run, tmp_path / "recording.json")
    # The same recorded episode, judged by a stricter goal: the task now wants 5 points, not 3.
    (tmp_path / "core").mkdir()
    for item in (EVALS / "core").iterdir():
        target = tmp_path / "core" / item.name
        target.symlink_to(item) if item.name != "tasks" else target.mkdir()
    board = (EVALS / "core" / "tasks" / "board.yaml").read_text()
    (tmp_path / "core" / "tasks" / "board.yaml").write_text(
        board.replace(
            "points: 3, priority: medium, done: false}}", "points: 5, priority: medium, done: false}}", 1
        )
    )
    stricter = load_suite(tmp_path / "core").only(["board-add-task"])
    (episode,) = rescore(path, stricter).episodes
    assert not episode.success and episode.goal is not None
    assert episode.goal.missed == (
        "no <task title='Set up analytics'> inserted at -1 under <column name='To do'>",
    )
    assert episode.goal.collateral == (
        "inserted <task title='Set up analytics'> under <column name='To do'>",
    )


async def test_a_model_run_on_any_openai_compatible_endpoint_records_it(tmp_path: Path) -> None:
    # --base-url: the project's scripted OpenAI-compatible server stands in for a local model server.
    # It knows no model "local-model", so every episode fails with the API's error, visibly, and the
    # report and recording name the model, the endpoint, the date and the harness version.
    async with ScriptedServer() as endpoint:
        base_url = endpoint.base_url
        code = await _cli(
            "eval",
            str(EVALS / "core"),
            "--tasks",
            "board-add-task",
            "--trials",
            "1",
            "--model",
            "local-model",
            "--base-url",
            endpoint.base_url,
            "--out",
            str(tmp_path / "run"),
            "--price",
            "1",
            "0.5",
            "2",
        )
    assert code == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    run = report["run"]
    assert (run["model"], run["base_url"], run["backend"]) == (
        "local-model",
        base_url + "/",
        "model",
    )
    assert run["date"] == run["started_at"][:10] and run["mesh_tools_version"]
    assert run["price_usd_per_mtok"] == {"input": 1.0, "cached_input": 0.5, "output": 2.0}
    assert report["model_result"] is True and report["summary"]["errors"] == 1
    assert report["summary"]["cost_usd"]["total"] == 0.0
    recording = json.loads((tmp_path / "run" / "recording.json").read_text())
    assert recording["run"]["base_url"] == run["base_url"] and len(recording["episodes"]) == 1


async def _cli(*args: str) -> int:
    import asyncio

    return await asyncio.to_thread(main, list(args))
