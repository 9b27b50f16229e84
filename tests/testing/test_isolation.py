"""mesh_tools.testing is for users' tests: production code runs without ever importing it."""

from __future__ import annotations

import json
import subprocess
import sys

# pkgutil.walk_packages imports every package to look inside, so the walk skips testing by hand.
PROGRAM = """
import importlib, json, pkgutil, sys

def load(package):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if module.name in ("mesh_tools.__main__", "mesh_tools.testing"):
            continue
        imported = importlib.import_module(module.name)
        if module.ispkg:
            load(imported)

load(importlib.import_module("mesh_tools"))
print(json.dumps(sorted(name for name in sys.modules if name.startswith("mesh_tools"))))
"""


def test_importing_every_production_module_never_imports_the_testing_package() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    assert "mesh_tools.cli._demo_cmd" in loaded and "mesh_tools.evaluation._runner" in loaded
    assert [name for name in loaded if name.startswith("mesh_tools.testing")] == []
