"""Recording a run to a file, and scoring it again offline without calling any model.

``mesh-tools eval`` writes ``recording.json`` beside every report: what was run (model id, endpoint,
date, harness version) and, for every episode, everything the harness saw: the starting and final
documents with their ids, every agent turn with its tool calls and results, token usage, timing,
convergence and errors. :func:`rescore` judges those episodes again against a suite's *current*
goals and checks (after a goal was fixed, a check added, or the judge changed) and returns a run to
report like any other. Nothing is replayed against a model or a room: the agents' actions and the
documents they produced are the recorded ones, so the numbers stay that run's; the report says it
was re-scored, when and by which harness version.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ..agent import AgentResult, StopReason, ToolCallRecord, TurnEvent, Usage
from ._episode import EpisodeRecord, score_episode
from ._errors import ReportError
from ._report import RunInfo, read_harness_file
from ._runner import EvalRun
from ._suite import Suite

__all__ = ["RECORDING_FORMAT", "rescore", "write_recording"]

#: The ``format`` field of every recording; bumped when the shape changes incompatibly.
RECORDING_FORMAT = "mesh-tools-eval-recording/1"


def write_recording(run: EvalRun, path: str | Path) -> Path:
    """Write ``run`` (its info and every episode's record) to ``path`` as JSON."""
    path = Path(path)
    data = {
        "format": RECORDING_FORMAT,
        "run": run.info.to_dict(),
        "episodes": [_record_dict(record) for record in run.records],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def rescore(path: str | Path, suite: Suite) -> EvalRun:
    """Score every episode recorded in ``path`` again, with the goals and checks of ``suite``."""
    path = Path(path)
    data = read_harness_file(
        path,
        RECORDING_FORMAT,
        what="an eval recording",
        hint="pass the recording.json that `mesh-tools eval` wrote beside its report",
    )
    tasks = {task.id: task for task in suite.tasks}
    missing = sorted({e["task"] for e in data["episodes"]} - set(tasks))
    if missing:
        raise ReportError(
            f"{path} has episodes of tasks that suite {suite.name!r} does not define: {', '.join(missing)}",
            hint="re-score with the suite the run was recorded on",
        )
    records = tuple(_record(entry, tasks) for entry in data["episodes"])
    info = dataclasses.replace(
        RunInfo.from_dict(data["run"]),
        rescored_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rescored_by=version("mesh-tools"),
    )
    return EvalRun(info, tuple(score_episode(record) for record in records), records)


def _record_dict(record: EpisodeRecord) -> dict[str, Any]:
    return {
        "task": record.task.id,
        "trial": record.trial,
        "results": [result.to_dict() for result in record.results],
        "tools": list(record.tools),
        "offered": {agent: list(names) for agent, names in record.offered.items()},
        "start": record.start,
        "final": record.final,
        "unfinished": [event.to_dict() for event in record.unfinished],
        "converged": record.converged,
        "replicas": record.replicas,
        "violations": list(record.violations),
        "wall_s": record.wall_s,
        "error": record.error,
    }


def _record(entry: Mapping[str, Any], tasks: Mapping[str, Any]) -> EpisodeRecord:
    return EpisodeRecord(
        task=tasks[entry["task"]],
        trial=entry["trial"],
        results=tuple(_result(result) for result in entry["results"]),
        tools=entry["tools"],
        offered=entry["offered"],
        start=entry["start"],
        final=entry["final"],
        unfinished=tuple(_event(event) for event in entry["unfinished"]),
        converged=entry["converged"],
        replicas=entry["replicas"],
        violations=tuple(entry["violations"]),
        wall_s=entry["wall_s"],
        error=entry["error"],
    )


def _event(data: Mapping[str, Any]) -> TurnEvent:
    return TurnEvent(
        **{
            **data,
            "retry_waits_s": tuple(data["retry_waits_s"]),
            "usage": Usage(**data["usage"]),
            "tool_calls": tuple(ToolCallRecord(**call) for call in data["tool_calls"]),
        }
    )


def _result(data: Mapping[str, Any]) -> AgentResult:
    return AgentResult(
        **{
            **data,
            "stop_reason": StopReason(data["stop_reason"]),
            "events": tuple(_event(event) for event in data["events"]),
            "usage": Usage(**data["usage"]),
        }
    )
