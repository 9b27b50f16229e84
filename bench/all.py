"""Every bench in bench/, one after another, then one table: ours beside the reference, ratio, target, met.

    python bench/all.py [--quick] [--only NAME,...] [--out FILE] [--log FILE] [--timeout SECONDS]

Each bench runs in a process of its own (``python bench/NAME.py ARGUMENTS --summary FILE``) with
arguments sized so that the whole run stays under 10 minutes on a 2-core machine; ``--quick`` shrinks
every size for a smoke run of a couple of minutes (its figures show the plumbing works, they are not
for quoting). The benches' own tables go to the log; the combined table, grouped by the rows of issue
16's table (then issue 9's isolation figures and the other benches' own targets), is printed and
written as Markdown for a closing note to quote. A bench that fails, times out or lacks a program it
needs (strace; Redis and PostgreSQL for cluster.py) is a line in the table saying so, and the exit
status is 1 when one failed or timed out.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from _summary import ISSUE_16_TABLE, Row, Topic, number, read  # bench/ is on the path
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    """One run of a bench script: its arguments (space-separated) for real figures and for ``--quick``."""

    script: str
    arguments: str
    quick: str
    #: Programs (or path patterns) without which the bench cannot run: it is skipped, saying which.
    needs: tuple[str, ...] = ()
    #: Tells apart two runs of one script (writers.py at two loads).
    variant: str = ""

    @property
    def stem(self) -> str:
        """What --only calls it."""
        return self.script.removesuffix(".py")

    @property
    def name(self) -> str:
        return f"{self.stem}: {self.variant}" if self.variant else self.stem

    def missing(self) -> list[str]:
        return [need for need in self.needs if shutil.which(need) is None and not glob.glob(need)]


BENCHES: tuple[Bench, ...] = (
    Bench("document_growth.py", "--sizes 1000,10000,100000 --edits 10", "--sizes 1000,5000 --edits 5"),
    Bench("room_load.py", "--updates 10000", "--updates 1000"),
    Bench("durability.py", "--seconds 4", "--rate 2000 --seconds 1"),
    Bench("client_writes.py", "--seconds 5", "--elements 2000 --edits 100 --repeat 1 --seconds 1"),
    Bench("open_many.py", "--documents 500", "--documents 50 --elements 20 --timeout 30"),
    Bench("create_describe.py", "--sizes 10000,100000", "--sizes 2000,10000"),
    Bench(
        "writers.py",
        "--writers 10 --rate 8000 --seconds 3 --converge-seconds 10",
        "--writers 4 --rate 2000 --seconds 1 --converge-seconds 10",
        variant="10 writers",
    ),
    Bench(
        "writers.py",
        "--writers 50 --rate 3000 --seconds 3 --converge-seconds 10",
        "--writers 10 --rate 1000 --seconds 1 --converge-seconds 10",
        variant="50 writers",
    ),
    Bench(
        "storage_memory.py",
        "--documents 60 --reference-seconds 8",
        "--storage-elements 1000 --updates 1000 --elements 200 --documents 20 --cycles 1"
        " --reference-seconds 2",
    ),
    Bench(
        "sync_latency.py",
        "--rounds 1000 --clients 50 --updates 200 --repeats 1",
        "--rounds 200 --clients 10 --updates 50 --repeats 1",
    ),
    Bench("tool_calls.py", "--calls 2000 --repeats 5", "--calls 300 --repeats 3"),
    Bench(
        "fanout_syscalls.py",
        "--repeats 1",
        "--documents 2 --readers 4 --edits 20 --repeats 1",
        needs=("strace",),
    ),
    Bench("isolation.py", "--seconds 2 --describes 5", "--seconds 1 --describes 2 --describe-elements 5000"),
    Bench("document_ops.py", "--n 5000 --repeats 3", "--n 2000 --repeats 3"),
    Bench("update_guard.py", "--n 2000", "--n 1000"),
    Bench("text_typing.py", "--keystrokes 2000", "--keystrokes 300"),
    Bench(
        # 100 lists: the text search pages through "item 9", "item 90" ... "item 99" (a prefix match).
        "big_documents.py",
        "--lists 100 --items 250 --no-demo",
        "--lists 100 --items 250 --no-crawl --no-demo",
    ),
    Bench(
        "cluster.py",
        "--rounds 100 --clients 30 --updates 100",
        "--rounds 50 --clients 6 --updates 20",
        needs=("redis-server", "/usr/lib/postgresql/*/bin/postgres"),
    ),
)


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    """How one bench's run ended; ``detail`` says why when not ok."""

    bench: Bench
    arguments: str
    status: Status
    detail: str
    seconds: float


def run_bench(bench: Bench, arguments: str, summary: Path, log: Path, timeout: float) -> Outcome:
    missing = bench.missing()
    if missing:
        return Outcome(bench, arguments, Status.SKIPPED, f"needs {', '.join(missing)}", 0.0)
    command = [sys.executable, str(BENCH / bench.script), *arguments.split(), "--summary", str(summary)]
    with log.open("a", encoding="utf-8") as output:
        output.write(f"\n=== {' '.join(command[1:])}\n")
        output.flush()
        started = time.perf_counter()
        # A session of its own: on a timeout the bench's servers go with it.
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=BENCH.parent, start_new_session=True
        )
        try:
            code = process.wait(timeout)
        except KeyboardInterrupt:  # Ctrl-C reaches only this process: the bench has a session of its own
            stop(process)
            raise
        except subprocess.TimeoutExpired:
            stop(process)
            return Outcome(
                bench, arguments, Status.TIMED_OUT, f"after {timeout:g} s", time.perf_counter() - started
            )
    seconds = time.perf_counter() - started
    if code != 0:
        return Outcome(bench, arguments, Status.FAILED, f"exit {code}: {last_line(log)}", seconds)
    return Outcome(bench, arguments, Status.OK, "", seconds)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a bench and what it started; SIGINT first, so its finally blocks stop its servers."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "no output")


def run_all(
    benches: Sequence[Bench], *, quick: bool, summary: Path, log: Path, timeout: float
) -> list[Outcome]:
    console = Console(stderr=True)
    outcomes = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        overall = progress.add_task("benches", total=len(benches))
        for bench in benches:
            progress.update(overall, description=f"bench/{bench.script} {bench.variant}".rstrip())
            outcome = run_bench(bench, bench.quick if quick else bench.arguments, summary, log, timeout)
            outcomes.append(outcome)
            mark = {Status.OK: "[green]✓", Status.SKIPPED: "[yellow]-"}.get(outcome.status, "[red]✗")
            progress.console.print(
                f"{mark}[/] {bench.name}: {outcome.status} {outcome.detail} ({outcome.seconds:.1f} s)"
            )
            progress.advance(overall)
    return outcomes


# -- the combined table ------------------------------------------------------------------------------

COLUMNS = ("topic", "what", "ours", "reference", "ratio", "target", "met")


def cells(row: Row) -> tuple[str, str, str, str, str]:
    """ours, reference, ratio, target and met of one row, as shown."""
    reference = "" if row.reference is None else f"{number(row.reference)} {row.unit} {row.reference_label}"
    ratio = "" if row.ratio is None else f"{number(row.ratio)}x"
    met = {True: "✓", False: "✗", None: ""}[row.met]
    return f"{number(row.ours)} {row.unit}", reference, ratio, row.target, met


def combined(rows: Sequence[Row], outcomes: Sequence[Outcome]) -> list[list[str]]:
    """The table's lines, one per column of COLUMNS; the topic only on the first line of its group.

    Every topic in Topic's order; issue 16's rows even when nothing measured them; then each bench
    that gave no figures, and why."""
    lines = []
    for topic in Topic:
        group = [[row.what, *cells(row)] for row in rows if row.topic is topic]
        if not group and topic in ISSUE_16_TABLE:
            group = [["no bench measured this row in this run", "", "", "", "", ""]]
        lines += [[topic.value if index == 0 else "", *line] for index, line in enumerate(group)]
    for outcome in outcomes:
        if outcome.status is not Status.OK:
            what = f"bench/{outcome.bench.script} {outcome.bench.variant}".rstrip()
            lines.append(
                ["bench gave no figures", what, "", "", "", f"{outcome.status}: {outcome.detail}", "✗"]
            )
    return lines


def rich_table(lines: Sequence[list[str]], title: str) -> Table:
    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in ("ours", "ratio", "met") else "left")
    for index, line in enumerate(lines):
        last_of_group = index + 1 == len(lines) or lines[index + 1][0] != ""
        table.add_row(*line, end_section=last_of_group)
    return table


def markdown(lines: Sequence[list[str]], outcomes: Sequence[Outcome], header: list[str]) -> str:
    def row(values: Sequence[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    text = [*header, "", row(COLUMNS), row(["---"] * len(COLUMNS)), *(row(line) for line in lines)]
    text += ["", row(("bench", "arguments", "status", "seconds")), row(["---"] * 4)]
    text += [
        row([o.bench.name, o.arguments, f"{o.status} {o.detail}".strip(), f"{o.seconds:.1f}"])
        for o in outcomes
    ]
    return "\n".join(text) + "\n"


def load_average() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="benches: " + ", ".join(dict.fromkeys(bench.stem for bench in BENCHES)),
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run of the plumbing, not figures to quote"
    )
    parser.add_argument(
        "--only",
        metavar="NAME,...",
        help="run only these benches (script names without .py, as listed below); all by default",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH / "results.md", help="the combined table as Markdown (%(default)s)"
    )
    parser.add_argument(
        "--log", type=Path, help="every bench's own output (default: the --out path with .log)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds a bench may take before it is stopped (%(default)s)",
    )
    args = parser.parse_args()
    benches = BENCHES
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {bench.stem for bench in BENCHES}
        if unknown:
            parser.error(f"no bench named {', '.join(sorted(unknown))}")
        benches = tuple(bench for bench in BENCHES if bench.stem in wanted)
    log = args.log or args.out.with_suffix(".log")
    log.write_text("", encoding="utf-8")
    load_before, started = load_average(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.jsonl"
        outcomes = run_all(benches, quick=args.quick, summary=summary, log=log, timeout=args.timeout)
        rows = read(summary)
    wall = time.perf_counter() - started
    mode = "--quick (smoke sizes, not figures to quote)" if args.quick else "default sizes"
    title = f"bench/all.py, {mode}: ours beside the reference, same run"
    header = [
        f"# {title}",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}, {os.cpu_count()} CPUs; "
        f"wall time {wall:.0f} s; load average before {load_before}, after {load_average()}. "
        f"Each bench's own tables: {log}.",
    ]
    # Piped (make bench | tee), rich would wrap the table at 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 180)
    lines = combined(rows, outcomes)
    console.print(rich_table(lines, title))
    console.print(header[-1])
    args.out.write_text(markdown(lines, outcomes, header), encoding="utf-8")
    if any(outcome.status in (Status.FAILED, Status.TIMED_OUT) for outcome in outcomes):
        sys.exit(1)


def commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True, check=False
        )
    except OSError:  # no git
        return "unknown"
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
