"""Where the agent definitions, prompts and eval suites that ship with mesh-tools are.

The repository's top-level ``agents/``, ``prompts/`` and ``evals/`` folders are the only source. A wheel
carries copies of them in ``mesh_tools/_bundled/`` (``setup.py`` copies them at build time), so an
installed package finds them from any directory; a checkout or an editable install has no copies and
reads the folders beside the package, so an edit to them shows at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["bundled", "eval_suite"]

_PACKAGE = Path(__file__).resolve().parent


def bundled(folder: Literal["agents", "prompts", "evals"]) -> Path:
    """The shipped ``folder``: the wheel's copy if there is one, else the checkout's own folder.

    The path is returned even if it does not exist, so that the caller's own error names it.
    """
    in_wheel = _PACKAGE / "_bundled" / folder
    return in_wheel if in_wheel.is_dir() else _PACKAGE.parent / folder


def eval_suite(argument: str) -> Path:
    """The suite an eval command names: an existing path, else a shipped suite such as ``core``."""
    given = Path(argument)
    shipped = bundled("evals") / argument
    return shipped if not given.exists() and (shipped / "suite.yaml").is_file() else given
