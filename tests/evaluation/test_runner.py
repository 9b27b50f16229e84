"""Eval runs through the real stack: scripted server -> openai client -> agent loop -> toolkit -> room.

The scripted backend replays every reference solution of the core suite and must score 100%; the
faulty backend injects faults and each must be classified as expected; the CLI writes the three
report files and compares two of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesh_tools.cli import main
from mesh_tools.errors import AgentConfigError
from mesh_tools.evaluation import EvalConfig, build_report, load_suite, run_suite
from mesh_tools.evaluation._calls import CallOutcome
from mesh_tools.evaluation._faults import FaultKind
from mesh_tools.testing import ScriptedServer

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
async def test_scripted_replay_of_the_whole_core_suite_scores_100_percent() -> None:
    suite = load_suite(CORE)
    run = await run_suite(suite, EvalConfig(model="scripted", trials=1, concurrency=8))
    failures = {
        e.task_id: e.error or [c.detail for c in e.checks if not c.passed]
        for e in run.episodes
        if not e.success
    }
    assert failures == {}
    assert len(run.episodes) == len(suite.tasks)
    assert all(e.valid for e in run.episodes)
    assert all(call.outcome is CallOutcome.OK for e in run.episodes for call in e.calls)
    multi = [e.multi_agent for e in run.episodes if e.multi_agent is not None]
    assert len(multi) == sum(task.multi_agent for task in suite.tasks)
    assert all(stats.converged for stats in multi)
    report = build_report(run.info, run.episodes)
    assert report["model_result"] is False and report["run"]["backend"] == "scripted"
    assert report["summary"]["pass_at_1"]["value"] == 1.0


async def test_scripted_replay_works_over_chat_completions_too() -> None:
    suite = load_suite(CORE).only(["team-page-outline-and-write", "board-task-with-subtasks"])
    run = await run_suite(suite, EvalConfig(model="scripted", trials=2, api="chat"))
    assert [e.success for e in run.episodes] == [True] * 4
    assert run.info.api == "chat"


async def test_every_injected_fault_is_detected_and_classified() -> None:
    # Single-agent tasks of each schema, and the two team tasks where one agent deletes what the other
    # has read (the stale-id fault).
    suite = load_suite(CORE).only(
        [
            "board-add-task",
            "page-add-contact-section",
            "thread-edit-question",
            "page-embed-video",
            "team-board-triage",
            "team-thread-moderation",
        ]
    )
    run = await run_suite(suite, EvalConfig(model="faulty", trials=1, concurrency=6))
    report = build_report(run.info, run.episodes)
    faults = report["faults"]
    assert faults["misclassified"] == []
    assert faults["classified"] == faults["detected"] == faults["injected"] > 0
    kinds = {entry["kind"]: entry["injected"] for entry in faults["by_kind"]}
    assert set(kinds) == {kind.value for kind in FaultKind}
    assert kinds["stale_id"] == 2
    # The reference goes on after the faults: every rejected edit is followed by a valid one, and the
    # tasks still succeed, except the impossible one, whose check forbids rejected writes.
    assert report["summary"]["recovery"]["value"] == 1.0
    outcomes = {e.task_id: e.success for e in run.episodes}
    assert outcomes.pop("page-embed-video") is False
    assert all(outcomes.values())
    assert report["model_result"] is False and report["run"]["label"].startswith("FAULT-INJECTION RUN")


def test_cli_writes_the_reports_and_compares_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["eval", str(CORE), "--tasks", "board-add-task", "thread-add-poll", "--trials", "2"]
    assert main([*common, "--model", "scripted", "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--model", "faulty", "--out", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["run"]["backend"] == "scripted" and report["summary"]["episodes"] == 4
    markdown = (tmp_path / "a" / "report.md").read_text()
    assert "| task success, pass@1 | 100.0% |" in markdown and "not a model result" in markdown
    assert (tmp_path / "b" / "report.png").read_bytes().startswith(PNG_SIGNATURE)
    capsys.readouterr()

    assert (
        main(["eval", "compare", str(tmp_path / "a" / "report.json"), str(tmp_path / "b" / "report.json")])
        == 0
    )
    out = capsys.readouterr().out
    assert "pass@1" in out and "thread-add-poll" in out and "-100.0 pp" in out
    assert "A is a scripted run" in out and "B is a faulty run" in out


def test_cli_refuses_bad_invocations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="--model is required"):
        main(["eval", str(CORE)])
    with pytest.raises(SystemExit, match="usage: mesh-tools eval compare"):
        main(["eval", "compare", "one.json"])
    assert main(["eval", str(tmp_path), "--model", "scripted"]) == 2
    assert "invalid_eval_suite" in capsys.readouterr().err
    assert main(["eval", str(CORE), "--model", "scripted:editor"]) == 2
    assert "names the scripted server" in capsys.readouterr().err


def test_a_model_run_without_a_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["eval", str(CORE), "--model", "gpt-test", "--tasks", "board-add-task"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


async def test_a_model_run_records_the_model_api_and_date_and_its_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real OpenAI-compatible endpoint that knows no such model: the run goes through the model path,
    # every episode fails with the API's error, and the report says which model, API and date it was.
    async with ScriptedServer() as endpoint:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", endpoint.base_url)
        base_url = endpoint.base_url
        suite = load_suite(CORE).only(["board-add-task"])
        run = await run_suite(suite, EvalConfig(model="gpt-test", trials=1, api="chat"))
    report = build_report(run.info, run.episodes)
    assert report["model_result"] is True and report["run"]["label"] == "model run"
    assert (report["run"]["model"], report["run"]["api"]) == ("gpt-test", "chat")
    assert report["run"]["date"] == report["run"]["started_at"][:10]
    assert report["run"]["base_url"] == base_url + "/"
    (episode,) = run.episodes
    assert not episode.success and episode.error is not None and "model_call_failed" in episode.error
    assert report["summary"]["errors"] == 1


def test_eval_settings_are_checked() -> None:
    with pytest.raises(AgentConfigError, match="trials must be at least 1"):
        EvalConfig(model="scripted", trials=0)
