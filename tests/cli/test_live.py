"""Runs against a real model: skipped unless OPENAI_API_KEY is set (``pytest -m live``).

The model comes from ``MESH_TOOLS_LIVE_MODEL`` (default ``gpt-5.4-mini``); ``OPENAI_BASE_URL`` points the
same tests at any OpenAI-compatible server. These check that the real-model paths work end to end, not
how good the model is: that is what ``mesh-tools eval`` measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = os.environ.get("MESH_TOOLS_LIVE_MODEL", "gpt-5.4-mini")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="needs OPENAI_API_KEY"),
]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh_tools", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OPENAI_AGENTS_DISABLE_TRACING": "1"},
    )


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_demo_with_a_real_model_ends_valid(api: str, tmp_path: Path) -> None:
    done = run_cli("demo", "--plain", "--model", MODEL, "--api", api, "--data-dir", str(tmp_path), cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "SCRIPTED" not in done.stdout
    assert "✓ valid" in done.stdout and "✓ converged" in done.stdout


def test_eval_records_a_real_model_run(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = run_cli(
        "eval",
        "evals/core",
        "--model",
        MODEL,
        "--trials",
        "1",
        "--tasks",
        "page-*",
        "--out",
        str(out),
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1 means some task failed: a result, not an error
    report = json.loads((out / "report.json").read_text())
    assert report["model_result"] is True
    assert MODEL in json.dumps(report)
