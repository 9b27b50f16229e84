"""Two eval reports side by side: each metric in both, the change from the first to the second, and
whether the change in task success is more than chance.

Success is compared pairwise: episodes are paired by task and trial. Two tests, both reported:

- **McNemar's exact test** on the paired episodes: of the pairs where exactly one side succeeded, is
  the split further from 50/50 than chance allows? It treats the pairs as independent.
- **A paired bootstrap over tasks**: the 95% interval of the mean per-task difference in success rate,
  resampling tasks (10,000 times, fixed seed), so the trials of one task stay together.

The difference is called significant (at the 5% level) only when both agree: McNemar's p < 0.05 and
the bootstrap interval excludes zero. Otherwise the statement says it is not, whatever the delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ._metrics import mcnemar_exact, paired_bootstrap
from ._report import REPORT_FORMAT, read_harness_file
from ._report_data import FunnelKey, MultiAgentRateKey, ReportData, SpreadKey, SummaryRateKey

__all__ = [
    "Comparison",
    "ComparisonRow",
    "Significance",
    "compare_reports",
    "load_report",
    "paired_significance",
]


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One metric in both reports; rates are fractions, ``delta`` is ``b - a``."""

    section: str
    metric: str
    a: float | None
    b: float | None
    is_rate: bool

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True, slots=True)
class Significance:
    """The paired tests of task success between two reports (module docs)."""

    pairs: int
    """Episodes present in both reports (same task, same trial)."""
    a_only: int
    """Pairs where only A succeeded."""
    b_only: int
    tasks: int
    delta: float
    """B's success rate minus A's over the paired episodes."""
    mcnemar_p: float
    bootstrap_low: float
    bootstrap_high: float

    @property
    def significant(self) -> bool:
        return self.mcnemar_p < 0.05 and not self.bootstrap_low <= 0.0 <= self.bootstrap_high

    def statement(self) -> str:
        """The verdict in one plain sentence."""
        verdict = (
            f"the difference is significant at the 5% level: B {'beats' if self.delta > 0 else 'trails'} A"
            if self.significant
            else "the difference is not significant at the 5% level; it may be chance"
        )
        return (
            f"Task success B - A = {self.delta * 100:+.1f} pp over {self.pairs} paired episodes of "
            f"{self.tasks} tasks ({self.b_only} only B passed, {self.a_only} only A passed); McNemar exact "
            f"p = {self.mcnemar_p:.3g}; paired bootstrap over tasks 95% CI "
            f"[{self.bootstrap_low * 100:+.1f}, {self.bootstrap_high * 100:+.1f}] pp: {verdict}."
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """The rows of a comparison, and what each report is (never mistake a scripted run for a model)."""

    a_label: str
    b_label: str
    rows: tuple[ComparisonRow, ...]
    warnings: tuple[str, ...]
    significance: Significance | None
    """None when the reports share no task and trial."""


def paired_significance(a: ReportData, b: ReportData) -> Significance | None:
    """McNemar's exact test and a paired bootstrap over tasks on the episodes both reports ran."""
    outcomes_b = {(e["task"], e["trial"]): bool(e["success"]) for e in b["episodes"]}
    pairs = [
        (e["task"], bool(e["success"]), outcomes_b[(e["task"], e["trial"])])
        for e in a["episodes"]
        if (e["task"], e["trial"]) in outcomes_b
    ]
    if not pairs:
        return None
    by_task: dict[str, list[float]] = {}
    for task, passed_a, passed_b in pairs:
        by_task.setdefault(task, []).append(float(passed_b) - float(passed_a))
    low, high = paired_bootstrap([sum(d) / len(d) for d in by_task.values()])
    a_only = sum(passed_a and not passed_b for _, passed_a, passed_b in pairs)
    b_only = sum(passed_b and not passed_a for _, passed_a, passed_b in pairs)
    return Significance(
        pairs=len(pairs),
        a_only=a_only,
        b_only=b_only,
        tasks=len(by_task),
        delta=(b_only - a_only) / len(pairs),
        mcnemar_p=mcnemar_exact(a_only, b_only),
        bootstrap_low=low,
        bootstrap_high=high,
    )


def load_report(path: str | Path) -> ReportData:
    """Read a report JSON written by ``mesh-tools eval``."""
    data = read_harness_file(
        Path(path),
        REPORT_FORMAT,
        what="an eval report",
        hint="pass the report.json that `mesh-tools eval` wrote",
    )
    return cast(ReportData, data)


def _describe(report: ReportData) -> str:
    run = report["run"]
    text = f"{run['model']} ({run['api']}, {run['date']}, {run['trials']} trials)"
    return text if report["model_result"] else f"{text} [{run['backend'].upper()}: not a model result]"


def _value(entry: Any) -> float | None:
    if isinstance(entry, Mapping):
        value = entry.get("value")
        return None if value is None else float(value)
    return None if entry is None else float(entry)


def compare_reports(a: ReportData, b: ReportData) -> Comparison:
    """Compare report ``a`` with report ``b``; tasks and categories present in only one are left out."""
    rows: list[ComparisonRow] = []

    def add(section: str, metric: str, left: Any, right: Any, is_rate: bool = True) -> None:
        rows.append(ComparisonRow(section, metric, _value(left), _value(right), is_rate))

    summary_a, summary_b = a["summary"], b["summary"]
    add("summary", "pass@1", summary_a["pass_at_1"], summary_b["pass_at_1"])
    k = str(min(a["run"]["trials"], b["run"]["trials"]))
    if k != "1":
        add("summary", f"pass^{k}", summary_a["pass_hat_k"].get(k), summary_b["pass_hat_k"].get(k))
    rates: tuple[tuple[SummaryRateKey, str], ...] = (
        ("goal_achieved", "final document is the goal"),
        ("collateral", "collateral damage"),
        ("final_validity", "final document valid"),
        ("recovery", "recovery after a rejected edit"),
        ("abstention", "abstention where no edit is due"),
        ("over_refusal", "over-refusal"),
        ("max_turns", "stopped at max turns"),
    )
    for key, name in rates:
        add("summary", name, summary_a[key], summary_b[key])
    spreads: tuple[tuple[SpreadKey, str], ...] = (
        ("turns", "turns"),
        ("tool_calls", "tool calls"),
        ("tokens", "tokens"),
        ("wall_s", "wall s"),
        ("model_call_latency_s", "model call latency s"),
    )
    for spread, name in spreads:
        add("per episode (mean)", name, summary_a[spread]["mean"], summary_b[spread]["mean"], is_rate=False)
    funnel: tuple[tuple[FunnelKey, str], ...] = (
        ("name_valid", "tool name exists"),
        ("arguments_parse", "arguments parse"),
        ("fits_tool_schema", "fit the tool schema"),
        ("ids_live", "ids are live"),
        ("fits_document_schema", "fit the document schema"),
    )
    for stage, name in funnel:
        add("tool calls", name, a["calls"][stage], b["calls"][stage])
    multi_a, multi_b = a["multi_agent"], b["multi_agent"]
    if multi_a is not None and multi_b is not None:
        team: tuple[tuple[MultiAgentRateKey, str], ...] = (
            ("conflict_rate", "writes in a conflict"),
            ("lost_intent_rate", "lost intents"),
            ("converged", "replicas converged"),
        )
        for measure, name in team:
            add("multi-agent", name, multi_a[measure], multi_b[measure])
    for category, entry in a["categories"].items():
        if category in b["categories"]:
            add("category pass@1", category, entry["pass_at_1"], b["categories"][category]["pass_at_1"])
    tasks_b = {task["id"]: task for task in b["tasks"]}
    for task in a["tasks"]:
        if task["id"] in tasks_b:
            add("task pass@1", task["id"], task["pass_at_1"], tasks_b[task["id"]]["pass_at_1"])
    warnings = []
    if a["run"]["suite"] != b["run"]["suite"]:
        warnings.append(f"different suites: {a['run']['suite']} and {b['run']['suite']}")
    for name, report in (("A", a), ("B", b)):
        if not report["model_result"]:
            warnings.append(
                f"{name} is a {report['run']['backend']} run: it measures the harness, not a model"
            )
    return Comparison(_describe(a), _describe(b), tuple(rows), tuple(warnings), paired_significance(a, b))
