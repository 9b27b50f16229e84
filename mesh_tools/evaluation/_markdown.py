"""The eval report as Markdown, rendered from the report JSON (``report.py``)."""

from __future__ import annotations

from typing import Any

from ._report_data import CallsData, FaultsData, RateData, ReportData, RunData, SpreadKey, SummaryData

__all__ = ["render_markdown"]


def _rate(value: RateData | None) -> str:
    if not value or value.get("value") is None:
        return "n/a"
    return f"{value['value']:.1%}"


def _interval(value: RateData | None) -> str:
    if not value or value.get("value") is None:
        return ""
    return f"[{value['low']:.1%}, {value['high']:.1%}]"


def _count(value: RateData | None) -> str:
    if not value:
        return ""
    successes = value["successes"]
    shown = f"{successes:g}" if isinstance(successes, float) else str(successes)
    return f"{shown}/{value['n']}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _rate_row(name: str, value: RateData | None) -> list[str]:
    return [name, _rate(value), _interval(value), _count(value)]


def render_markdown(report: ReportData) -> str:
    """The report for people: run, summary, per-call funnel, categories, multi-agent, faults, tasks."""
    run = report["run"]
    summary = report["summary"]
    k = str(run["trials"])
    lines = [f"# Eval report: {run['suite']}, {run['model']} ({run['api']})", ""]
    if not report["model_result"]:
        lines += [f"> **{run['label']}.**", "> These numbers describe the eval harness, not any model.", ""]
    lines += _table(
        ["run", ""],
        [
            ["backend", run["backend"]],
            ["model", run["model"]],
            ["API", run["api"]],
            ["date (UTC)", f"{run['started_at']} to {run['finished_at']}"],
            ["trials per task", k],
            [
                "temperature",
                "as each agent defines it" if run["temperature"] is None else str(run["temperature"]),
            ],
            [
                "endpoint",
                run["base_url"] or ("default" if report["model_result"] else "scripted server, loopback"),
            ],
            ["mesh-tools", run["mesh_tools_version"]],
        ],
    )
    lines += ["## Summary", ""]
    pass_hat = summary["pass_hat_k"]
    rows = [_rate_row("task success, pass@1", summary["pass_at_1"])]
    rows += [_rate_row(f"pass^{key}", pass_hat[key]) for key in sorted(pass_hat, key=int) if key != "1"]
    rows += [
        _rate_row("final document is the goal", summary["goal_achieved"]),
        _rate_row("collateral damage (episodes)", summary["collateral"]),
        _rate_row("final document valid", summary["final_validity"]),
        _rate_row("recovery after a rejected edit", summary["recovery"]),
        _rate_row("abstention where no edit is due", summary["abstention"]),
        _rate_row("over-refusal where an edit is due", summary["over_refusal"]),
        _rate_row("stopped at max turns", summary["max_turns"]),
    ]
    lines += _table(["metric", "value", "95% CI", "count"], rows)
    spreads: tuple[tuple[str, SpreadKey], ...] = (
        ("turns", "turns"),
        ("tool calls", "tool_calls"),
        ("tokens", "tokens"),
        ("wall time (s)", "wall_s"),
        ("model call latency (s), per call", "model_call_latency_s"),
        ("tool call latency (s), per call", "tool_call_latency_s"),
    )
    lines += _table(
        ["per episode", "mean", "median", "p95", "max"],
        [
            [name, *(_number(value) for value in (s["mean"], s["median"], s["p95"], s["max"]))]
            for name, key in spreads
            for s in (summary[key],)
        ],
    )
    lines += [_cost_line(run, summary), ""]
    attempts = summary["mean_attempts_to_recover"]
    estimated = "" if report["model_result"] else " Tokens are the scripted server's estimates."
    lines += [
        f"{summary['tasks']} tasks, {summary['episodes']} episodes, {summary['errors']} failed to run, "
        f"{summary['collateral_changes']} collateral changes in all. "
        f"Mean write attempts to recover: {'n/a' if attempts is None else attempts}.{estimated}",
        "",
    ]
    lines += _calls_section(report["calls"])
    lines += ["## By category", ""]
    lines += _table(
        ["category", "tasks", "pass@1", "95% CI", f"pass^{k}", "95% CI"],
        [
            [
                name,
                str(entry["tasks"]),
                _rate(entry["pass_at_1"]),
                _interval(entry["pass_at_1"]),
                _rate(entry["pass_hat_k"]),
                _interval(entry["pass_hat_k"]),
            ]
            for name, entry in report["categories"].items()
        ],
    )
    multi = report["multi_agent"]
    if multi is not None:
        lines += [f"## Multi-agent ({multi['episodes']} episodes)", ""]
        lines += _table(
            ["metric", "value", "95% CI", "count"],
            [
                _rate_row("writes in a concurrent conflict", multi["conflict_rate"]),
                _rate_row("lost intents", multi["lost_intent_rate"]),
                _rate_row("replicas converged", multi["converged"]),
            ],
        )
    if report["faults"] is not None:
        lines += _faults_section(report["faults"])
    lines += ["## Tasks", ""]
    lines += _table(
        ["task", "category", "successes", f"pass^{k}", "turns", "tool calls", "first failure"],
        [
            [
                task["id"],
                task["category"],
                f"{task['successes']}/{task['trials']}",
                f"{task['pass_hat_k']:.2f}",
                _number(task["mean_turns"]),
                _number(task["mean_tool_calls"]),
                task["failures"][0]["reason"][:120] if task["failures"] else "",
            ]
            for task in report["tasks"]
        ],
    )
    return "\n".join(lines)


def _calls_section(calls: CallsData) -> list[str]:
    lines = [f"## Tool calls ({calls['total']})", ""]
    lines += _table(
        ["stage", "passed", "95% CI", "count"],
        [
            _rate_row("tool name exists", calls["name_valid"]),
            _rate_row("arguments parse as JSON", calls["arguments_parse"]),
            _rate_row("arguments fit the tool schema", calls["fits_tool_schema"]),
            _rate_row("referenced ids are live", calls["ids_live"]),
            _rate_row("edit fits the document schema", calls["fits_document_schema"]),
        ],
    )
    lines += _table(["outcome", "calls"], [[name, str(count)] for name, count in calls["outcomes"].items()])
    if calls["inconsistent"]:
        lines += [
            f"**{len(calls['inconsistent'])} call(s) where the toolkit's verdict contradicts the "
            "classification** (see the JSON report).",
            "",
        ]
    return lines


def _faults_section(faults: FaultsData) -> list[str]:
    lines = [
        "## Injected faults",
        "",
        f"{faults['classified']} of {faults['injected']} injected faults classified as expected; "
        f"{faults['detected']} rejected by the toolkit.",
        "",
    ]
    lines += _table(
        ["fault", "expected outcome", "injected", "rejected", "classified"],
        [
            [k["kind"], k["expected"], str(k["injected"]), str(k["detected"]), str(k["classified"])]
            for k in faults["by_kind"]
        ],
    )
    lines += [f"- {line}" for line in faults["misclassified"][:20]]
    return lines + ([""] if faults["misclassified"] else [])


def _cost_line(run: RunData, summary: SummaryData) -> str:
    cost = summary["cost_usd"]
    cached = f"{summary['cached_input_tokens']} input tokens were served from the prompt cache."
    if cost is None:
        price = "offline run: no cost" if run["backend"] != "model" else "no price known for this model"
        return f"Cost: n/a ({price}). {cached}"
    rates = run["price_usd_per_mtok"]
    if rates is None:
        return f"Cost: n/a (no price known for this model). {cached}"
    per_success = "n/a" if cost["per_success"] is None else f"${cost['per_success']:.4f}"
    return (
        f"Cost: ${cost['total']:.4f} in all, ${cost['per_episode']:.4f} per episode, "
        f"{per_success} per successful episode "
        f"(USD per million tokens: input {rates['input']}, cached input {rates['cached_input']}, output "
        f"{rates['output']}; price table of {run['prices_as_of']}). {cached}"
    )


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if isinstance(value, float) else str(value)
