"""``mesh-tools schema``: check a schema file and print it as JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "schema",
        help="check a MeshSchema JSON file and print its JSON Schema",
        description="Load a MeshSchema JSON file, report what is wrong with it, or print it normalized.",
    )
    parser.add_argument("file", help="path to the schema JSON file")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from ..schema import MeshSchema

    schema = MeshSchema.from_file(args.file)
    print(json.dumps(schema.to_json(), indent=2))
    return 0
