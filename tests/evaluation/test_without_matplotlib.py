"""matplotlib is an optional extra: without it `mesh-tools eval` writes its reports and says why no chart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mesh_tools.cli import main
from mesh_tools.evaluation import ChartUnavailableError, draw_chart


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import matplotlib` fail as if it were not installed, even after another
    # test of this process has imported it.
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.usefixtures("no_matplotlib")
def test_draw_chart_says_which_extra_to_install(tmp_path: Path) -> None:
    with pytest.raises(ChartUnavailableError) as raised:
        draw_chart({}, tmp_path / "report.png")
    assert raised.value.code == "chart_unavailable"
    assert "matplotlib is not installed" in raised.value.message
    assert raised.value.hint is not None and "mesh-tools[charts]" in raised.value.hint
    assert not (tmp_path / "report.png").exists()


@pytest.mark.usefixtures("no_matplotlib")
def test_eval_writes_the_reports_and_a_note_instead_of_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the shipped suite by its name, from outside the repository
    out = tmp_path / "report"
    command = ["eval", "core", "--model", "scripted", "--tasks", "board-add-task", "--trials", "1"]
    assert main([*command, "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "note: report.png not drawn: matplotlib is not installed" in printed
    assert "pip install 'mesh-tools[charts]'" in printed
    assert json.loads((out / "report.json").read_text())["summary"]["episodes"] == 1
    assert (out / "report.md").is_file()
    assert not (out / "report.png").exists()
