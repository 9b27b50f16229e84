"""The folders that ship with mesh-tools are found from any working directory.

In a checkout (and the editable install `make` does) they are the repository's own top-level folders;
the wheel's copies are exercised by scripts/wheel-smoke.sh, which installs the built wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_tools._resources import bundled, eval_suite

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_checkout_reads_its_top_level_folders_so_edits_show_without_reinstalling() -> None:
    assert bundled("agents") == REPOSITORY / "agents"
    assert bundled("prompts") == REPOSITORY / "prompts"
    assert bundled("evals") == REPOSITORY / "evals"
    assert (bundled("agents") / "architect.toml").is_file()


def test_a_suite_name_finds_the_shipped_suite_but_an_existing_path_comes_first(elsewhere: Path) -> None:
    assert eval_suite("core") == REPOSITORY / "evals" / "core"
    (elsewhere / "core").mkdir()
    assert eval_suite("core") == Path("core"), "a suite directory of the user's own wins over the name"
    assert eval_suite("no-such-suite") == Path("no-such-suite"), "left for load_suite to report"
