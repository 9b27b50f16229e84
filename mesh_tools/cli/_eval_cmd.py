"""``mesh-tools eval``: run an eval suite and write its report, or compare two reports.

    mesh-tools eval evals/core --model gpt-5.4-mini --trials 5 [--api chat] [--out DIR]
    mesh-tools eval evals/core --model scripted     # replay the reference solutions: must score 100%
    mesh-tools eval evals/core --model faulty       # inject faults: each must be classified as expected
    mesh-tools eval compare A/report.json B/report.json
    mesh-tools eval discriminate evals/core   # bad policies must fail every task they break
    mesh-tools eval rescore DIR/recording.json evals/core   # judge a recorded run again, offline

Offline runs exit with 1 when they miss their bar (scripted below 100%, a fault misclassified), so CI
can run them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._resources import eval_suite

if TYPE_CHECKING:
    from rich.console import Console

    from ..agent import TurnEvent
    from ..evaluation import EpisodeResult, EvalConfig, EvalRun, RunnerFactory
    from ..evaluation._report_data import ReportData

_COMPARE = "compare"
_DISCRIMINATE = "discriminate"
_RESCORE = "rescore"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "eval",
        help="run an eval suite and write its report, or compare two reports",
        description="Run every task of SUITE --trials times and write report.json, report.md and "
        "report.png (the chart needs the charts extra); or, as `mesh-tools eval compare A B`, print the "
        "change from report A to report B.",
        epilog="--model scripted replays the reference solutions and --model faulty injects faults; both "
        "are offline, labelled in every report, and never model results.",
    )
    parser.add_argument(
        "suite",
        metavar="SUITE",
        help="suite directory, a suite that ships with mesh-tools (core, hard), or `compare` / "
        "`discriminate` / `rescore`",
    )
    parser.add_argument(
        "reports",
        nargs="*",
        metavar="REPORT",
        help="with `compare`: two report.json files; with `discriminate`: suites; with `rescore`: a "
        "recording.json and its suite",
    )
    parser.add_argument("--model", help="model id, or `scripted` / `faulty` to run offline")
    parser.add_argument("--trials", type=int, default=3, help="runs of each task (default 3)")
    parser.add_argument("--api", choices=["responses", "chat"], default="responses", help="model API")
    parser.add_argument(
        "--out", type=Path, help="report directory (default eval-results/<suite>-<model>-<time>)"
    )
    parser.add_argument("--tasks", nargs="+", default=[], metavar="GLOB", help="only tasks whose id matches")
    parser.add_argument("--concurrency", type=int, default=4, help="episodes run at once (default 4)")
    parser.add_argument("--temperature", type=float, help="replace every agent's temperature")
    parser.add_argument(
        "--base-url", help="an OpenAI-compatible endpoint (default: OPENAI_BASE_URL, else OpenAI's)"
    )
    parser.add_argument(
        "--price",
        nargs=3,
        type=float,
        metavar=("INPUT", "CACHED", "OUTPUT"),
        help="the model's price in USD per million tokens, when the built-in table does not list it",
    )
    parser.add_argument(
        "--runner",
        choices=["loop", "openai-agents"],
        default="loop",
        help="the agent to evaluate: our agent loop (default) or an openai-agents Agent, on --model",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.suite == _COMPARE:
        if len(args.reports) != 2:
            raise SystemExit("usage: mesh-tools eval compare A/report.json B/report.json")
        return _compare(Path(args.reports[0]), Path(args.reports[1]))
    if args.suite == _RESCORE:
        if len(args.reports) != 2:
            raise SystemExit("usage: mesh-tools eval rescore RECORDING.json SUITE")
        return _rescore(Path(args.reports[0]), args.reports[1], args.out)
    if args.suite == _DISCRIMINATE:
        if not args.reports:
            raise SystemExit("usage: mesh-tools eval discriminate SUITE...")
        return asyncio.run(_discriminate(args))
    if args.reports:
        raise SystemExit(
            f"unexpected arguments {' '.join(args.reports)}; did you mean `mesh-tools eval compare`?"
        )
    if not args.model:
        raise SystemExit("--model is required: a model id, or `scripted` / `faulty` to run offline")
    return asyncio.run(_evaluate(args))


async def _evaluate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..evaluation import EvalConfig, Price, load_suite, run_suite

    console = Console()
    suite = load_suite(eval_suite(args.suite)).only(args.tasks)
    config = EvalConfig(
        model=args.model,
        trials=args.trials,
        api=args.api,
        concurrency=args.concurrency,
        temperature=args.temperature,
        base_url=args.base_url,
        price=Price(*args.price) if args.price else None,
    )
    runner = _runner(args, config) if args.runner != "loop" else None
    if config.backend != "model":
        console.print(f"[bold yellow]{config.backend.upper()} RUN: no LLM is called; not a model result.[/]")
    episodes = len(suite.tasks) * config.trials
    passed = failed = turns = 0
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[passed]} passed[/] [red]{task.fields[failed]} failed[/]"),
        TextColumn("{task.fields[turns]} model turns"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
    )

    def done(episode: EpisodeResult) -> None:
        nonlocal passed, failed
        passed, failed = passed + episode.success, failed + (not episode.success)
        mark = "[green]✓[/]" if episode.success else "[red]✗[/]"
        progress.update(bar, advance=1, passed=passed, failed=failed, last=f"{mark} {episode.task_id}")

    def turn(event: TurnEvent) -> None:
        nonlocal turns
        turns += 1
        progress.update(bar, turns=turns)

    with progress:
        bar = progress.add_task(
            f"{suite.name} · {config.model}", total=episodes, passed=0, failed=0, turns=0, last=""
        )
        run = await run_suite(suite, config, runner=runner, on_episode=done, on_event=turn)
    out = args.out or Path("eval-results") / _slug(suite.name, config.model)
    return _report(console, run, out)


def _runner(args: argparse.Namespace, config: EvalConfig) -> RunnerFactory:
    from openai import AsyncOpenAI

    from ..evaluation import OpenAIAgentsRunner

    if config.backend != "model":
        raise SystemExit("--runner openai-agents needs a model id, not an offline backend")
    runner = OpenAIAgentsRunner(args.model, AsyncOpenAI(base_url=args.base_url), api=args.api)
    return lambda task, start: runner


def _rescore(recording: Path, suite_path: str, out: Path | None) -> int:
    from rich.console import Console

    from ..evaluation import load_suite, rescore

    run = rescore(recording, load_suite(eval_suite(suite_path)))
    return _report(Console(), run, out or recording.parent / "rescored")


def _report(console: Console, run: EvalRun, out: Path) -> int:
    from ..evaluation import build_report, write_recording

    report = build_report(run.info, run.episodes)
    _print_summary(console, report)
    _write(report, out, console)
    if run.records:
        console.print(f"wrote {write_recording(run, out / 'recording.json')}")
    return _exit_code(report)


def _slug(suite: str, model: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{suite}-{model}-{stamp}")


def _write(report: ReportData, out: Path, console: Console) -> None:
    from rich.markup import escape

    from ..evaluation import ChartUnavailableError, draw_chart, render_markdown

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path = out / "report.md"
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    console.print(f"wrote {json_path}\nwrote {markdown_path}")
    try:
        console.print(f"wrote {draw_chart(report, out / 'report.png')}")
    except ChartUnavailableError as exc:
        console.print(f"[yellow]note:[/] {escape(f'{exc.message}; {exc.hint}')}")


def _print_summary(console: Console, report: ReportData) -> None:
    from rich.table import Table

    summary, calls = report["summary"], report["calls"]
    k = str(report["run"]["trials"])
    table = Table(title=f"{report['run']['suite']} · {report['run']['model']} · {report['run']['label']}")
    for column in ("metric", "value", "95% CI"):
        table.add_column(column)
    rows = [("pass@1", summary["pass_at_1"])]
    if k != "1":
        rows.append((f"pass^{k}", summary["pass_hat_k"][k]))
    rows += [
        ("final document is the goal", summary["goal_achieved"]),
        ("collateral damage (episodes)", summary["collateral"]),
        ("final document valid", summary["final_validity"]),
        ("recovery after rejected edit", summary["recovery"]),
        ("abstention (no edit due)", summary["abstention"]),
        ("over-refusal (edit due)", summary["over_refusal"]),
        ("arguments fit the tool schema", calls["fits_tool_schema"]),
        ("edits fit the document schema", calls["fits_document_schema"]),
        ("referenced ids live", calls["ids_live"]),
    ]
    if report["multi_agent"] is not None:
        rows += [
            ("multi-agent: lost intents", report["multi_agent"]["lost_intent_rate"]),
            ("multi-agent: replicas converged", report["multi_agent"]["converged"]),
        ]
    for name, rate in rows:
        value = "n/a" if rate["value"] is None else f"{rate['value']:.1%}"
        interval = "" if rate["value"] is None else f"[{rate['low']:.1%}, {rate['high']:.1%}]"
        table.add_row(name, value, interval)
    console.print(table)
    faults = report["faults"]
    if faults is not None:
        console.print(
            f"faults: {faults['classified']}/{faults['injected']} classified as expected, "
            f"{faults['detected']} rejected by the toolkit"
        )
        for line in faults["misclassified"]:
            console.print(f"  [red]{line}[/]")
    failures = [(task["id"], failure) for task in report["tasks"] for failure in task["failures"]]
    for task_id, failure in failures[:10]:
        console.print(f"[red]✗ {task_id} #{failure['trial']}[/]: {failure['reason']}")


def _exit_code(report: ReportData) -> int:
    backend = report["run"]["backend"]
    if backend == "scripted" and report["summary"]["pass_at_1"]["value"] != 1.0:
        return 1
    faults = report["faults"]
    if backend == "faulty" and faults is not None and faults["classified"] != faults["injected"]:
        return 1
    return 0


def _compare(a_path: Path, b_path: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..evaluation import compare_reports, load_report

    comparison = compare_reports(load_report(a_path), load_report(b_path))
    console = Console()
    table = Table(title=f"A: {comparison.a_label}\nB: {comparison.b_label}")
    for column in ("section", "metric", "A", "B", "B - A"):
        table.add_column(column, justify="left" if column in ("section", "metric") else "right")
    for row in comparison.rows:
        delta = row.delta
        if row.is_rate:
            cells = [_percent(row.a), _percent(row.b), "" if delta is None else f"{delta * 100:+.1f} pp"]
        else:
            cells = [_plain(row.a), _plain(row.b), "" if delta is None else f"{delta:+.3g}"]
        style = "" if not delta else "green" if (delta > 0) == _higher_is_better(row.metric) else "red"
        table.add_row(row.section, row.metric, *cells, style=style)
    console.print(table)
    if comparison.significance is not None:
        console.print(comparison.significance.statement())
    else:
        console.print("The reports share no task and trial: no paired test of task success.")
    for warning in comparison.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")
    return 0


async def _discriminate(args: argparse.Namespace) -> int:
    from ..evaluation import discriminate, load_suite

    ok = True
    for path in args.reports:
        table = await discriminate(
            load_suite(eval_suite(path)).only(args.tasks), concurrency=args.concurrency
        )
        print(table.markdown())
        ok = ok and table.ok
    return 0 if ok else 1


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _plain(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _higher_is_better(metric: str) -> bool:
    return metric not in {
        "stopped at max turns",
        "collateral damage",
        "over-refusal",
        "writes in a conflict",
        "lost intents",
        "turns",
        "tool calls",
        "tokens",
        "wall s",
    }
