"""The ``mesh-tools`` command. Each sub-command lives in its own module with a ``register`` function.

Building the parser imports every sub-command module, so at the top those modules import only what
their arguments need (the standard library, :mod:`mesh_tools.errors`, :mod:`mesh_tools.helpers`), and
everything else inside the functions that run the command: ``mesh-tools --help`` stays fast and the
optional extras (MCP, openai-agents, matplotlib) stay optional.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .._log_redaction import RedactSecrets
from ..errors import MeshError

# In the order `mesh-tools --help` lists their commands.
COMMAND_MODULES = [
    "mesh_tools.cli._schema_cmd",
    "mesh_tools.cli._serve_cmd",
    "mesh_tools.cli._room_cmd",
    "mesh_tools.cli._mcp_cmd",
    "mesh_tools.cli._eval_cmd",
    "mesh_tools.cli._agent_cmd",
    "mesh_tools.cli._demo_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; every sub-command module adds its own sub-parsers."""
    parser = argparse.ArgumentParser(
        prog="mesh-tools",
        description="Live, schema-typed documents that people and LLM agents co-edit.",
        epilog="Run `mesh-tools COMMAND --help` for the options of a command.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    try:
        result: int | None = args.run(args)
    except MeshError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result or 0
