"""The eval report: scored episodes aggregated into one JSON document.

The JSON is the record; Markdown and the chart are rendered from it (``markdown.py``, ``chart.py``),
and ``mesh-tools eval compare`` reads two of them. Every rate carries its 95% Wilson interval.

Runs of the scripted or faulty backend are labelled in ``run.backend`` and ``run.label`` and have
``model_result: false``: they measure the harness (the reference solutions, the fault classifier),
never a model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._calls import CallOutcome, ClassifiedCall
from ._episode import EpisodeResult
from ._errors import ReportError
from ._faults import FaultKind, tally_faults
from ._metrics import pass_at_k, pass_hat_k, rate, suite_pass_hat_k
from ._pricing import PRICES_AS_OF, Price
from ._report_data import (
    CallsData,
    CategoryData,
    CostData,
    FaultKindData,
    FaultsData,
    MultiAgentData,
    ReportData,
    RunData,
    SpreadData,
    SummaryData,
    TaskData,
    TaskFailure,
)
from ._suite import CATEGORIES

__all__ = ["REPORT_FORMAT", "Backend", "RunInfo", "build_report"]

#: The ``format`` field of every report; bumped when the shape changes incompatibly.
REPORT_FORMAT = "mesh-tools-eval/1"

Backend = Literal["model", "scripted", "faulty", "runner"]

_LABELS: Mapping[Backend, str] = {
    "model": "model run",
    "scripted": "SCRIPTED RUN: reference solutions replayed, no LLM called; not a model result",
    "faulty": "FAULT-INJECTION RUN: scripted faults, no LLM called; not a model result",
}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What was run, on what, and when."""

    suite: str
    suite_path: str
    backend: Backend
    model: str
    """The model id asked for; ``scripted`` or ``faulty`` for offline backends; the runners' labels."""
    model_result: bool
    """Whether the numbers are a model's work: never for the offline backends or an offline runner."""
    api: Literal["responses", "chat"]
    trials: int
    started_at: str
    """ISO 8601, UTC."""
    finished_at: str
    temperature: float | None
    base_url: str | None
    """The OpenAI-compatible endpoint (None: the client's default); never a key."""
    mesh_tools_version: str
    price: Price | None = None
    """The model's price (USD per million tokens) costs are computed with; None when unknown."""
    rescored_at: str | None = None
    """When a recording of this run was scored again offline (``recording.py``); None for a live run."""
    rescored_by: str | None = None
    """The harness version that scored it again."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        """The info of a run from its ``to_dict()`` (derived fields are left out and computed again)."""
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        price = data.get("price_usd_per_mtok")
        values["price"] = None if price is None else Price(**price)
        return cls(**values)

    @property
    def label(self) -> str:
        if self.backend != "runner":
            label = _LABELS[self.backend]
        elif self.model_result:
            label = f"agent runner: {self.model}"
        else:
            label = f"OFFLINE RUNNER RUN ({self.model}): no LLM called; not a model result"
        if self.rescored_at is None:
            return label
        return f"{label}; RE-SCORED offline on {self.rescored_at[:10]} by mesh-tools {self.rescored_by}"

    def to_dict(self) -> RunData:
        return {
            "suite": self.suite,
            "suite_path": self.suite_path,
            "backend": self.backend,
            "label": self.label,
            "model": self.model,
            "model_result": self.model_result,
            "api": self.api,
            "trials": self.trials,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "date": self.started_at[:10],
            "temperature": self.temperature,
            "base_url": self.base_url,
            "mesh_tools_version": self.mesh_tools_version,
            "price_usd_per_mtok": None
            if self.price is None
            else {
                "input": self.price.input,
                "cached_input": self.price.cached_input,
                "output": self.price.output,
            },
            "prices_as_of": PRICES_AS_OF,
            "rescored_at": self.rescored_at,
            "rescored_by": self.rescored_by,
        }


def read_harness_file(path: Path, file_format: str, *, what: str, hint: str) -> dict[str, Any]:
    """A JSON file the harness wrote (a report, a recording), checked to be of ``file_format``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}") from error
    except ValueError as error:
        raise ReportError(f"{path} is not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("format") != file_format:
        found = data.get("format") if isinstance(data, dict) else None
        raise ReportError(f"{path} is not {what} of format {file_format} (format: {found!r})", hint=hint)
    return data


def build_report(run: RunInfo, episodes: Sequence[EpisodeResult]) -> ReportData:
    """The report for a run: summary, per-call funnel, categories, tasks, faults and every episode."""
    by_task: dict[str, list[EpisodeResult]] = {}
    for episode in episodes:
        by_task.setdefault(episode.task_id, []).append(episode)
    calls = [call for episode in episodes for call in episode.calls]
    return {
        "format": REPORT_FORMAT,
        "run": run.to_dict(),
        "model_result": run.model_result,
        "summary": _summary(episodes, by_task, run.trials, run.price, run.model_result),
        "calls": _calls(calls),
        "multi_agent": _multi_agent(episodes),
        "categories": _categories(by_task, run.trials),
        "tasks": [_task(task_id, runs, run.trials) for task_id, runs in by_task.items()],
        "faults": _faults(episodes) if run.backend == "faulty" else None,
        "episodes": [episode.to_dict() for episode in episodes],
    }


def _outcomes(runs: Sequence[EpisodeResult]) -> tuple[int, int]:
    return sum(run.success for run in runs), len(runs)


def _spread(values: Sequence[float]) -> SpreadData:
    if not values:
        return {"mean": None, "median": None, "p95": None, "max": None, "total": 0}
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 4),
        "median": round(statistics.median(ordered), 4),
        # Nearest rank: the smallest value with at least 95% of the values at or below it.
        "p95": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 4),
        "max": round(ordered[-1], 4),
        "total": round(math.fsum(ordered), 4),
    }


def _cost(episodes: Sequence[EpisodeResult], price: Price | None) -> CostData | None:
    """Money spent, in US dollars: in all, per episode and per successful episode; None without a price."""
    if price is None:
        return None
    costs = [price.cost(episode.usage) for episode in episodes]
    successes = sum(episode.success for episode in episodes)
    total = math.fsum(costs)
    return {
        "total": round(total, 6),
        "per_episode": round(total / len(costs), 6) if costs else None,
        "per_success": round(total / successes, 6) if successes else None,
    }


def _summary(
    episodes: Sequence[EpisodeResult],
    by_task: Mapping[str, Sequence[EpisodeResult]],
    trials: int,
    price: Price | None,
    model_result: bool,
) -> SummaryData:
    per_task = [_outcomes(runs) for runs in by_task.values()]
    ks = range(1, max((n for _, n in per_task), default=0) + 1)
    judged = [episode for episode in episodes if episode.goal is not None]
    declines = [episode for episode in episodes if episode.abstained is not None]
    edits = [episode for episode in episodes if episode.over_refused is not None]
    rejected = sum(episode.recovery.rejected for episode in episodes)
    recovered = sum(episode.recovery.recovered for episode in episodes)
    attempts = [n for episode in episodes for n in episode.recovery.attempts]
    return {
        "tasks": len(by_task),
        "episodes": len(episodes),
        "trials": trials,
        "pass_at_1": rate(sum(c for c, _ in per_task), sum(n for _, n in per_task)).to_dict(),
        "pass_hat_k": {str(k): suite_pass_hat_k(per_task, k).to_dict() for k in ks},
        "pass_at_k": {
            str(k): round(statistics.fmean(pass_at_k(c, n, k) for c, n in per_task if n >= k), 4) for k in ks
        },
        "final_validity": rate(sum(e.valid for e in episodes), len(episodes)).to_dict(),
        "errors": sum(episode.error is not None for episode in episodes),
        "max_turns": rate(sum(e.max_turns_hit for e in episodes), len(episodes)).to_dict(),
        "recovery": rate(recovered, rejected).to_dict(),
        "mean_attempts_to_recover": round(statistics.fmean(attempts), 3) if attempts else None,
        "goal_achieved": rate(
            sum(e.goal is not None and e.goal.achieved for e in judged), len(judged)
        ).to_dict(),
        "collateral": rate(sum(bool(e.collateral) for e in judged), len(judged)).to_dict(),
        "collateral_changes": sum(len(e.collateral) for e in judged),
        "abstention": rate(sum(bool(e.abstained) for e in declines), len(declines)).to_dict(),
        "over_refusal": rate(sum(bool(e.over_refused) for e in edits), len(edits)).to_dict(),
        "turns": _spread([e.turns for e in episodes]),
        "tool_calls": _spread([len(e.calls) for e in episodes]),
        "tokens": _spread([e.usage.total_tokens for e in episodes]),
        "cached_input_tokens": sum(e.usage.cached_input_tokens for e in episodes),
        "cost_usd": _cost(episodes, price) if model_result else None,
        "model_call_latency_s": _spread([latency for e in episodes for latency in e.model_latencies_s]),
        "tool_call_latency_s": _spread([call.duration_s for e in episodes for call in e.calls]),
        "wall_s": _spread([e.wall_s for e in episodes]),
    }


def _calls(calls: Sequence[ClassifiedCall]) -> CallsData:
    """The per-call funnel: each stage over the calls that reached it."""
    outcome = Counter(call.outcome for call in calls)
    named = [c for c in calls if c.outcome is not CallOutcome.UNKNOWN_TOOL]
    parsed = [c for c in named if c.outcome is not CallOutcome.MALFORMED_ARGUMENTS]
    fitting = [c for c in parsed if c.outcome is not CallOutcome.TOOL_SCHEMA]
    with_ids = [c for c in fitting if c.target_ids]
    dead = (CallOutcome.INVENTED_ID, CallOutcome.STALE_ID)
    reached_document = [
        c for c in fitting if c.write and c.outcome in (CallOutcome.OK, CallOutcome.DOCUMENT_SCHEMA)
    ]
    return {
        "total": len(calls),
        "outcomes": {kind.value: outcome.get(kind, 0) for kind in CallOutcome},
        "name_valid": rate(len(named), len(calls)).to_dict(),
        "arguments_parse": rate(len(parsed), len(named)).to_dict(),
        "fits_tool_schema": rate(len(fitting), len(parsed)).to_dict(),
        "ids_live": rate(sum(c.outcome not in dead for c in with_ids), len(with_ids)).to_dict(),
        "fits_document_schema": rate(sum(c.ok for c in reached_document), len(reached_document)).to_dict(),
        "inconsistent": [
            {"agent": c.agent, "tool": c.tool, "arguments": c.arguments, "result": c.result, "note": c.note}
            for c in calls
            if not c.consistent
        ],
    }


def _multi_agent(episodes: Sequence[EpisodeResult]) -> MultiAgentData | None:
    stats = [episode.multi_agent for episode in episodes if episode.multi_agent is not None]
    if not stats:
        return None
    return {
        "episodes": len(stats),
        "conflict_rate": rate(
            sum(s.conflicting_writes for s in stats), sum(s.writes for s in stats)
        ).to_dict(),
        "conflict_pairs": sum(s.conflict_pairs for s in stats),
        "lost_intent_rate": rate(sum(s.lost_intents for s in stats), sum(s.intents for s in stats)).to_dict(),
        "converged": rate(sum(s.converged for s in stats), len(stats)).to_dict(),
    }


def _categories(by_task: Mapping[str, Sequence[EpisodeResult]], trials: int) -> dict[str, CategoryData]:
    out: dict[str, CategoryData] = {}
    for category in CATEGORIES:
        groups = [runs for runs in by_task.values() if runs[0].category == category]
        if not groups:
            continue
        per_task = [_outcomes(runs) for runs in groups]
        out[category] = {
            "tasks": len(groups),
            "episodes": sum(n for _, n in per_task),
            "pass_at_1": rate(sum(c for c, _ in per_task), sum(n for _, n in per_task)).to_dict(),
            "pass_hat_k": suite_pass_hat_k(per_task, min(trials, min(n for _, n in per_task))).to_dict(),
        }
    return out


def _task(task_id: str, runs: Sequence[EpisodeResult], trials: int) -> TaskData:
    successes, n = _outcomes(runs)
    failures: list[TaskFailure] = []
    for run in runs:
        if run.success:
            continue
        missed = run.goal.missed if run.goal is not None else ()
        lines = [
            *(f"missed: {line}" for line in missed),
            *(f"collateral: {line}" for line in run.collateral),
            *(f"{outcome.check}: {outcome.detail}" for outcome in run.checks if not outcome.passed),
        ]
        reason = run.error or (
            lines[0] if lines else "the final document is invalid: " + "; ".join(run.violations)
        )
        failures.append({"trial": run.trial, "reason": reason})
    k = min(trials, n)
    return {
        "id": task_id,
        "category": runs[0].category,
        "trials": n,
        "successes": successes,
        "pass_at_1": round(successes / n, 4),
        "pass_hat_k": round(pass_hat_k(successes, n, k), 4),
        "k": k,
        "mean_turns": round(statistics.fmean(run.turns for run in runs), 2),
        "mean_tool_calls": round(statistics.fmean(len(run.calls) for run in runs), 2),
        "failures": failures,
    }


def _faults(episodes: Sequence[EpisodeResult]) -> FaultsData:
    by_kind: dict[FaultKind, FaultKindData] = {}
    misclassified: list[str] = []
    for episode in episodes:
        for tally in tally_faults(episode.faults, episode.calls):
            entry = by_kind.setdefault(
                tally.kind,
                {
                    "kind": tally.kind.value,
                    "expected": tally.kind.expected.value,
                    "injected": 0,
                    "detected": 0,
                    "classified": 0,
                },
            )
            entry["injected"] += tally.injected
            entry["detected"] += tally.detected
            entry["classified"] += tally.classified
            misclassified += [f"{episode.task_id}#{episode.trial} {line}" for line in tally.misclassified]
    kinds = [by_kind[kind] for kind in FaultKind if kind in by_kind]
    return {
        "injected": sum(k["injected"] for k in kinds),
        "detected": sum(k["detected"] for k in kinds),
        "classified": sum(k["classified"] for k in kinds),
        "by_kind": kinds,
        "misclassified": misclassified,
    }
