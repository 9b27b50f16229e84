"""The rings of docs/architecture.md: core ← integrations ← applications, never an import outwards.

Every import counts, the ones inside functions too (the CLI defers most of its imports): a deferred
import outwards is still a dependency. ``mesh_tools.testing`` holds test doubles for users' tests; no
production module may import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mesh_tools"

CORE, INTEGRATIONS, APPLICATIONS, TESTING = 0, 1, 2, 3
# Each top-level module or package of mesh_tools, by ring. The flat modules of the core (protocol,
# crdt_layout, document_events, document_view) are what the sync and document packages replace.
RINGS = {
    "errors": CORE,
    "schema": CORE,
    "document": CORE,
    "sync": CORE,
    "tokens": CORE,
    "_log_redaction": CORE,
    "_gc_pause": CORE,
    "server": INTEGRATIONS,
    "client": INTEGRATIONS,
    "helpers": INTEGRATIONS,
    "tools": INTEGRATIONS,
    "agent": APPLICATIONS,
    "evaluation": APPLICATIONS,
    "demo": APPLICATIONS,
    "cli": APPLICATIONS,
    "_resources": APPLICATIONS,
    "__main__": APPLICATIONS,
    "testing": TESTING,
}
RING_NAMES = ["core", "integrations", "applications", "testing"]


def top_level(path: Path) -> str:
    """The top-level module or package of mesh_tools that ``path`` belongs to."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every mesh_tools module that ``path`` imports, anywhere in it."""
    package = ["mesh_tools", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            # `from mesh_tools import errors` (or `from .. import errors`) names the module in the alias.
            names = [[*module, alias.name] for alias in node.names] if module == ["mesh_tools"] else [module]
        else:
            continue
        for parts in names:
            if parts[0] == "mesh_tools" and len(parts) > 1 and is_module(parts[1]):
                yield node.lineno, parts[1]


def is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != PACKAGE / "__init__.py")


def test_every_module_has_a_ring() -> None:
    unplaced = sorted({top_level(path) for path in modules()} - RINGS.keys())
    assert unplaced == [], "add them to RINGS here and to the table in docs/architecture.md"


def test_no_module_imports_from_an_outer_ring() -> None:
    outward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} ({RING_NAMES[RINGS[top_level(path)]]}) imports "
        f"mesh_tools.{target} ({RING_NAMES[RINGS[target]]})"
        for path in modules()
        for line, target in imported(path)
        if RINGS.get(target, CORE) > RINGS.get(top_level(path), TESTING)
    ]
    assert outward == []


def test_the_package_root_re_exports_only_the_core_and_the_client() -> None:
    # `import mesh_tools` is the documented entry point; it must stay light (no agent, no model SDK).
    targets = {target for _, target in imported(PACKAGE / "__init__.py")}
    assert {RINGS[target] for target in targets} <= {CORE, INTEGRATIONS}
