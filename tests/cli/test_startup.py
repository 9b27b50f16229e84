"""`mesh-tools --help` stays fast: building the parser loads no sub-command's machinery."""

from __future__ import annotations

import json
import subprocess
import sys

# Heavy or optional packages (and our own sub-packages) that only a sub-command's run may import.
HEAVY = {
    "openai",
    "agents",
    "mcp",
    "matplotlib",
    "rich",
    "mesh_tools.agent",
    "mesh_tools.evaluation",
    "mesh_tools.server",
    "mesh_tools.tools",
}

PROGRAM = """
import json, sys
from mesh_tools.cli import build_parser
build_parser()
print(json.dumps(sorted(sys.modules)))
"""


def package(module: str) -> str:
    """The top-level package of a module, or the sub-package for one of ours."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "mesh_tools" else parts[0]


def test_building_the_parser_imports_no_heavy_module() -> None:
    # A fresh interpreter: this test process has long since imported all of them.
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    assert "mesh_tools.cli._demo_cmd" in loaded  # the parser was built from every command module
    assert sorted({package(name) for name in loaded} & HEAVY) == []
