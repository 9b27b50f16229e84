"""bench/all.py end to end: real bench processes append their rows, one combined table comes out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ALL = Path(__file__).resolve().parents[1] / "bench" / "all.py"


def run_all(*arguments: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ if path is None else {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, str(ALL), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_help_explains_the_options_and_names_the_benches() -> None:
    result = run_all("--help")

    assert result.returncode == 0, result.stderr
    for option in ("--quick", "--only NAME,...", "--out OUT", "--log LOG", "--timeout TIMEOUT"):
        assert option in result.stdout
    assert "under 10 minutes" in result.stdout
    for bench in ("document_growth", "storage_memory", "isolation", "cluster"):
        assert bench in result.stdout


def test_an_unknown_bench_name_is_refused() -> None:
    result = run_all("--only", "room_load,no_such_bench")

    assert result.returncode == 2
    assert "no bench named no_such_bench" in result.stderr


@pytest.mark.slow
def test_quick_run_tables_each_benchs_rows_and_says_which_could_not_run(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    # No strace on this PATH: fanout_syscalls is skipped, saying so, and the run still succeeds.
    result = run_all(
        "--quick", "--only", "document_ops,room_load,fanout_syscalls", "--out", str(out), path=str(tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    table = out.read_text()
    lines = table.splitlines()
    load_row = next(line for line in lines if "server load alone, log of 1,000" in line)
    assert load_row.startswith("| room load from an uncompacted log |")
    assert "raw pycrdt replay" in load_row and "≤ 2x raw pycrdt replay" in load_row
    assert load_row.rstrip(" |").endswith(("✓", "✗"))
    # The whole open is shown beside it, as context without a target of its own.
    open_row = next(line for line in lines if "open from a log of 1,000 updates" in line)
    assert "≤" not in open_row and not open_row.rstrip(" |").endswith(("✓", "✗"))
    append_row = next(line for line in lines if "append_child, per call" in line)
    assert append_row.startswith("| document operations |") and "µs raw pycrdt append" in append_row
    assert "| cold describe | no bench measured this row in this run |" in table
    assert "| bench gave no figures | bench/fanout_syscalls.py |" in table
    assert "skipped: needs strace" in table
    assert "| room_load | --updates 1000 | ok |" in table
    # The benches' own tables went to the log beside the Markdown, and the combined one to stdout.
    log = out.with_suffix(".log").read_text()
    assert "document operations (n=2,000" in log and "cold open of a stored document" in log
    assert "open from a log of 1,000 updates" in result.stdout


def test_a_bench_over_its_time_is_stopped_and_fails_the_run(tmp_path: Path) -> None:
    out = tmp_path / "results.md"

    result = run_all("--quick", "--only", "room_load", "--timeout", "0.5", "--out", str(out))

    assert result.returncode == 1
    assert (
        "| bench gave no figures | bench/room_load.py |  |  |  | timed out: after 0.5 s | ✗ |"
        in out.read_text()
    )
