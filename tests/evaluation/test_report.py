"""Episode scoring and reports on hand-built episodes, where every number can be worked out by hand."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mesh_tools.agent import AgentResult, StopReason, ToolCallRecord, TurnEvent, Usage
from mesh_tools.document import MeshDocument
from mesh_tools.evaluation._calls import CallOutcome
from mesh_tools.evaluation._chart import draw_chart
from mesh_tools.evaluation._compare import compare_reports, load_report
from mesh_tools.evaluation._episode import EpisodeRecord, EpisodeResult, score_episode
from mesh_tools.evaluation._errors import ReportError
from mesh_tools.evaluation._markdown import render_markdown
from mesh_tools.evaluation._report import REPORT_FORMAT, RunInfo, build_report
from mesh_tools.evaluation._suite import Suite, Task, load_suite
from mesh_tools.tools import DocumentToolkit, InMemorySource, ToolResult

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(CORE)


def task_of(suite: Suite, task_id: str) -> Task:
    return next(task for task in suite.tasks if task.id == task_id)


def seeded(task: Task) -> MeshDocument:
    return MeshDocument.from_json(task.schema, task.document)


def record(name: str, arguments: Any, result: dict[str, Any], at: float) -> ToolCallRecord:
    text = json.dumps(result)
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCallRecord(f"call_{at}", name, raw, text, ToolResult.from_text(text).ok, at, 0.01)


def agent_result(
    agent: str, turns: list[list[ToolCallRecord]], stop: StopReason = StopReason.FINAL_MESSAGE
) -> AgentResult:
    events = tuple(
        TurnEvent(
            agent=agent,
            turn=number,
            api="responses",
            model="m",
            response_model="m",
            response_id=f"r{number}",
            started_at=0.0,
            duration_s=0.1,
            attempts=1,
            retry_waits_s=(),
            usage=Usage(10, 5, 15),
            notice=None,
            text=None,
            tool_calls=tuple(calls),
        )
        for number, calls in enumerate([*turns, []], start=1)
    )
    usage = sum((event.usage for event in events), Usage())
    return AgentResult(agent, "m", "Done.", stop, len(events), events, usage, scripted=False)


def episode(
    task: Task, trial: int, results: list[AgentResult], start: MeshDocument, final: MeshDocument
) -> EpisodeResult:
    toolkit = DocumentToolkit(InMemorySource(task.schema), schema=task.schema, path="x")
    return score_episode(
        EpisodeRecord(
            task=task,
            trial=trial,
            results=results,
            tools=toolkit.responses_tools(),
            offered={agent.name: toolkit.names for agent in task.agents},
            start=start.to_json(include_ids=True),
            final=final.to_json(include_ids=True),
            converged=True,
            replicas=len(task.agents) + 1,
            wall_s=1.5,
        )
    )


def rename_episode(task: Task, *, fixed: bool, trial: int = 1) -> EpisodeResult:
    """Describe, a set_attribute rejected by the tool schema, then (if ``fixed``) the valid one."""
    document = seeded(task)
    start = document.to_json(include_ids=True)
    column = next(e for e in document if e.get_attribute("name") == "In progress")
    describe = record("describe_document", {"id": "root", "depth": None}, {"ok": True, "element": start}, 1.0)
    wrong = record(
        "set_attribute",
        {"id": column.id, "attribute": {"name": "name", "value": 5}},
        {"ok": False, "error": {"code": "invalid_value", "message": "5 is not valid"}},
        2.0,
    )
    turns = [[describe], [wrong]]
    # Built from the JSON with ids, so the final document keeps the starting ids.
    final = MeshDocument.from_json(task.schema, start)
    if fixed:
        good = record(
            "set_attribute",
            {"id": column.id, "attribute": {"name": "name", "value": "Doing"}},
            {"ok": True, "previous": "In progress"},
            3.0,
        )
        turns.append([good])
        final.element_by_id(column.id).set_attribute("name", "Doing")
    return episode(
        task, trial, [agent_result("editor", turns)], MeshDocument.from_json(task.schema, start), final
    )


def test_an_episode_is_scored_from_its_calls_and_final_document(suite: Suite) -> None:
    task = task_of(suite, "board-rename-column")
    result = rename_episode(task, fixed=True)
    assert [call.outcome for call in result.calls] == [
        CallOutcome.OK,
        CallOutcome.TOOL_SCHEMA,
        CallOutcome.OK,
    ]
    assert result.success and result.valid
    assert all(outcome.passed for outcome in result.checks)
    assert (result.recovery.rejected, result.recovery.recovered, result.recovery.attempts) == (1, 1, (1,))
    assert result.turns == 4 and result.usage.total_tokens == 60
    assert result.abstained is None and result.multi_agent is None

    unfixed = rename_episode(task, fixed=False, trial=2)
    assert not unfixed.success
    assert (unfixed.recovery.rejected, unfixed.recovery.recovered) == (1, 0)
    # The whole-state goal names what is missing; nothing else changed, so there is no collateral damage.
    assert unfixed.goal is not None
    assert unfixed.goal.missed == ("<column name='In progress'>.name is 'In progress', expected 'Doing'",)
    assert unfixed.goal.collateral == ()


def run_info(backend: str = "model", trials: int = 2) -> RunInfo:
    return RunInfo(
        suite="core",
        suite_path=str(CORE),
        backend=backend,  # type: ignore[arg-type]
        model="scripted" if backend != "model" else "gpt-test",
        model_result=backend == "model",
        api="responses",
        trials=trials,
        started_at="2026-01-02T03:04:05+00:00",
        finished_at="2026-01-02T03:05:05+00:00",
        temperature=None,
        base_url=None,
        mesh_tools_version="0.1.0",
    )


def test_report_aggregates_by_hand_computable_numbers(suite: Suite) -> None:
    task = task_of(suite, "board-rename-column")
    episodes = [rename_episode(task, fixed=True, trial=1), rename_episode(task, fixed=False, trial=2)]
    report = build_report(run_info(), episodes)
    summary, calls = report["summary"], report["calls"]
    assert report["format"] == REPORT_FORMAT and report["model_result"] is True
    assert summary["pass_at_1"]["value"] == 0.5
    # One task, 1 success in 2 trials: pass^2 = C(1,2)/C(2,2) = 0, pass@2 = 1 - C(1,2)/C(2,2) = 1.
    assert summary["pass_hat_k"]["2"]["value"] == 0.0
    assert summary["pass_at_k"]["2"] == 1.0
    assert summary["recovery"]["successes"] == 1 and summary["recovery"]["n"] == 2
    assert summary["mean_attempts_to_recover"] == 1.0
    assert summary["final_validity"]["value"] == 1.0
    # 5 calls: 3 ok, 2 rejected by the tool schema; the one write that reached the document fit it.
    assert calls["outcomes"]["ok"] == 3 and calls["outcomes"]["tool_schema"] == 2
    assert calls["fits_tool_schema"]["successes"] == 3 and calls["fits_tool_schema"]["n"] == 5
    assert calls["fits_document_schema"]["n"] == 1 and calls["fits_document_schema"]["value"] == 1.0
    assert report["tasks"][0]["failures"][0]["trial"] == 2
    assert report["categories"]["edit"]["pass_at_1"]["value"] == 0.5
    json.loads(json.dumps(report))


def typo_episode(task: Task, bob_at: float) -> EpisodeResult:
    document = seeded(task)
    start = document.to_json(include_ids=True)
    paragraph = next(e for e in document if "Tuscon" in str(e.get_attribute("text")))

    def fix(text: str, at: float) -> ToolCallRecord:
        arguments = {"id": paragraph.id, "attribute": {"name": "text", "value": text}}
        return record("set_attribute", arguments, {"ok": True, "previous": None}, at)

    final = MeshDocument.from_json(task.schema, start)
    final.element_by_id(paragraph.id).set_attribute("text", "Our workshop is in Tucson, AZ.")
    alice = agent_result("alice", [[fix("Our workshop is in Tucson, Arizona.", 10.0)]])
    bob = agent_result("bob", [[fix("Our workshop is in Tucson, AZ.", bob_at)]])
    return episode(task, 1, [alice, bob], MeshDocument.from_json(task.schema, start), final)


def test_concurrent_edits_of_one_element_conflict_and_the_overwritten_intent_is_lost(suite: Suite) -> None:
    task = task_of(suite, "team-page-same-typo")
    close = typo_episode(task, bob_at=10.4)
    assert close.multi_agent is not None
    assert (close.multi_agent.conflict_pairs, close.multi_agent.conflicting_writes) == (1, 2)
    assert close.multi_agent.lost_intents == 1 and close.multi_agent.intents == 2
    assert close.multi_agent.lost[0].startswith("alice: set_attribute text")
    apart = typo_episode(task, bob_at=12.0)
    assert apart.multi_agent is not None
    assert apart.multi_agent.conflict_pairs == 0 and apart.multi_agent.lost_intents == 1
    assert close.success and apart.success

    report = build_report(run_info(trials=1), [close, apart])
    multi = report["multi_agent"]
    assert multi["conflict_rate"]["successes"] == 2 and multi["conflict_rate"]["n"] == 4
    assert multi["lost_intent_rate"]["value"] == 0.5
    assert multi["converged"]["value"] == 1.0


def test_an_edit_of_an_element_another_agent_deleted_is_lost_but_undoing_your_own_is_not(
    suite: Suite,
) -> None:
    task = task_of(suite, "team-board-triage")
    document = seeded(task)
    start = document.to_json(include_ids=True)
    kickoff = next(e for e in document if e.get_attribute("title") == "Kick-off meeting")
    final = MeshDocument.from_json(task.schema, start)
    final.element_by_id(kickoff.id).delete()
    new_id = "newtask1"
    planner = agent_result(
        "planner",
        [
            [
                record(
                    "set_attribute",
                    {"id": kickoff.id, "attribute": {"name": "priority", "value": "high"}},
                    {"ok": True},
                    1.0,
                )
            ]
        ],
    )
    cleaner = agent_result(
        "cleaner",
        [
            [record("delete_element", {"id": kickoff.id}, {"ok": True, "deleted": 1}, 2.0)],
            [
                record(
                    "append_child",
                    {
                        "parent_id": "root",
                        "position": None,
                        "element": {"$tag": "column", "name": "X", "wip_limit": None, "tasks": []},
                    },
                    {"ok": True, "id": new_id, "ids": {new_id: "column"}},
                    3.0,
                )
            ],
            [record("delete_element", {"id": new_id}, {"ok": True, "deleted": 1}, 4.0)],
        ],
    )
    result = episode(task, 1, [planner, cleaner], MeshDocument.from_json(task.schema, start), final)
    assert result.multi_agent is not None
    assert result.multi_agent.lost == (f"planner: priority of {kickoff.id}, but the element is gone",)
    assert result.multi_agent.intents == 4


def test_reports_render_as_markdown_json_and_png(suite: Suite, tmp_path: Path) -> None:
    task = task_of(suite, "board-rename-column")
    report = build_report(run_info("scripted"), [rename_episode(task, fixed=True)])
    markdown = render_markdown(report)
    assert markdown.startswith("# Eval report: core, scripted (responses)")
    assert "> **SCRIPTED RUN: reference solutions replayed, no LLM called; not a model result.**" in markdown
    assert "| metric | value | 95% CI | count |" in markdown
    assert "| task success, pass@1 | 100.0% | [20.7%, 100.0%] | 1/1 |" in markdown
    assert "| board-rename-column | edit | 1/1 | 1.00 |" in markdown
    path = draw_chart(report, tmp_path / "chart" / "report.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert path.stat().st_size > 10_000
    model_markdown = render_markdown(build_report(run_info("model"), [rename_episode(task, fixed=True)]))
    assert "not a model result" not in model_markdown


def test_compare_gives_deltas_and_labels_offline_runs(suite: Suite, tmp_path: Path) -> None:
    task = task_of(suite, "board-rename-column")
    a = build_report(
        run_info("model"), [rename_episode(task, fixed=False), rename_episode(task, fixed=False, trial=2)]
    )
    b = build_report(
        run_info("scripted"), [rename_episode(task, fixed=True), rename_episode(task, fixed=True, trial=2)]
    )
    (tmp_path / "a.json").write_text(json.dumps(a))
    comparison = compare_reports(load_report(tmp_path / "a.json"), b)
    rows = {(row.section, row.metric): row for row in comparison.rows}
    assert rows[("summary", "pass@1")].delta == 1.0
    assert rows[("task pass@1", "board-rename-column")].a == 0.0
    assert rows[("per episode (mean)", "tool calls")].is_rate is False
    assert comparison.warnings == ("B is a scripted run: it measures the harness, not a model",)
    assert "not a model result" in comparison.b_label and "not a model result" not in comparison.a_label


def test_load_report_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(ReportError, match="not an eval report"):
        load_report(tmp_path / "x.json")
    with pytest.raises(ReportError, match="cannot read"):
        load_report(tmp_path / "missing.json")


def test_an_episode_that_failed_to_run_is_a_failure_with_its_turns_kept(suite: Suite) -> None:
    task = task_of(suite, "board-rename-column")
    start = seeded(task).to_json(include_ids=True)
    toolkit = DocumentToolkit(InMemorySource(task.schema), schema=task.schema, path="x")
    describe = record("describe_document", {"id": "root", "depth": None}, {"ok": True, "element": start}, 1.0)
    # The agent read the document, then its next model request failed: no AgentResult, one turn.
    (turn, _) = agent_result("editor", [[describe]]).events
    result = score_episode(
        EpisodeRecord(
            task=task,
            trial=1,
            results=(),
            tools=toolkit.responses_tools(),
            offered={"editor": toolkit.names},
            start=start,
            final=None,
            unfinished=[turn],
            error="editor: model_call_failed: 500",
        )
    )
    assert not result.success and not result.valid and result.checks == ()
    assert [call.outcome for call in result.calls] == [CallOutcome.OK]
    assert result.turns == 1 and result.usage.total_tokens == 15
    report = build_report(run_info(trials=1), [replace(result)])
    assert report["summary"]["errors"] == 1
    assert report["tasks"][0]["failures"] == [{"trial": 1, "reason": "editor: model_call_failed: 500"}]


def test_compare_says_whether_a_difference_in_success_is_significant(suite: Suite) -> None:
    task = task_of(suite, "board-rename-column")
    failing = build_report(
        run_info(trials=6), [rename_episode(task, fixed=False, trial=t) for t in range(1, 7)]
    )
    passing = build_report(
        run_info(trials=6), [rename_episode(task, fixed=True, trial=t) for t in range(1, 7)]
    )
    significance = compare_reports(failing, passing).significance
    assert significance is not None
    # Six discordant pairs, all for B: p = 2 / 2^6; one task, so every bootstrap resample gives +1.
    assert (significance.pairs, significance.a_only, significance.b_only) == (6, 0, 6)
    assert significance.mcnemar_p == 2 / 64 and significance.significant
    assert (significance.bootstrap_low, significance.bootstrap_high) == (1.0, 1.0)
    assert significance.statement().endswith("the difference is significant at the 5% level: B beats A.")
    # One pair cannot show anything, however large the delta.
    one = compare_reports(
        build_report(run_info(trials=1), [rename_episode(task, fixed=False)]),
        build_report(run_info(trials=1), [rename_episode(task, fixed=True)]),
    ).significance
    assert one is not None and one.delta == 1.0 and one.mcnemar_p == 1.0 and not one.significant
    assert "not significant at the 5% level" in one.statement()
