"""Creating big documents from JSON and describing them cold and warm, beside raw pycrdt in the same run.

    python bench/create_describe.py [--sizes 10000,100000]

For each size, a flat document of that many ``<p>`` children, as document JSON:

1. ``MeshDocument.from_json`` in this process, and ``sync.create(json=...)`` through ``mesh-tools serve``
   (a child process, SQLite): the server checks and builds the document and stores it. Reference: raw
   pycrdt building the same tree in one transaction the fast way (children inserted in reverse at 0:
   appending walks the list, which makes a build quadratic). Target: linear time, the cost per
   element at the largest size within 2x of the smallest. What runs in this process (from_json, the
   raw build) is timed in CPU time, as bench/tool_calls.py does, so that other programs on a shared
   machine do not skew the comparison of sizes; the rest is wall time.
2. ``sync.describe`` of that document, which the server has not loaded yet (cold: load from storage,
   check, the document as JSON), then again at once (warm: the server keeps a document loaded for
   ``--keep-loaded`` seconds after its last use, 30 by default, so the second describe must not load
   it again). Reference: raw pycrdt loading the same state and reading it out as JSON (every
   element's attributes, ``json.dumps``). Target: cold and warm within 2x of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from _serve import ours_server, room_client  # bench/ is on the path
from _summary import Topic, add_summary_argument, at_most, flat_in_size, record
from pycrdt import Doc, XmlElement, XmlFragment
from rich.console import Console
from rich.table import Table
from room_load import SCHEMA

from mesh_tools.document import FRAGMENT_NAME, MeshDocument


def document_json(size: int) -> dict[str, Any]:
    return {"doc": {"children": [{"p": {"text": f"item {i}", "n": i}} for i in range(size)]}}


def raw_build(size: int) -> float:
    """CPU seconds raw pycrdt takes to build the same tree (with ids, as ours writes them)."""
    start = time.process_time()
    doc: Doc = Doc()
    fragment = doc.get(FRAGMENT_NAME, type=XmlFragment)
    with doc.transaction():
        root = fragment.children.append(XmlElement("doc", {"id": "root"}))
        for i in reversed(range(size)):
            root.children.insert(0, XmlElement("p", {"id": f"{i:010x}", "text": f"item {i}", "n": i}))
    return time.process_time() - start


def raw_describe(state: bytes) -> float:
    """Seconds raw pycrdt takes to load ``state`` and write its elements out as JSON."""
    start = time.perf_counter()
    doc: Doc = Doc()
    doc.apply_update(state)
    root = doc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    children = [
        {child.tag: dict(child.attributes)} for child in root.children if isinstance(child, XmlElement)
    ]
    json.dumps({root.tag: {"children": children}})
    return time.perf_counter() - start


@dataclass(frozen=True)
class Sizes:
    """The figures for one size, in seconds."""

    size: int
    from_json: float
    create: float
    raw_build: float
    cold_describe: float
    warm_describe: float
    raw_describe: float


async def measure(url: str, size: int) -> Sizes:
    data = document_json(size)
    start = time.process_time()
    local = MeshDocument.from_json(SCHEMA, data)
    from_json = time.process_time() - start
    state = local.get_update()
    local.close()
    path = f"flat-{size}.doc"
    # A quadratic create or load of 100k elements takes minutes: let the bench say so, not time out.
    async with room_client(url, request_timeout=600) as client:
        start = time.perf_counter()
        await client.sync.create(path, json=data, schema=SCHEMA)
        create = time.perf_counter() - start
        describes = []
        for _ in range(2):
            start = time.perf_counter()
            described = await client.sync.describe(path)
            describes.append(time.perf_counter() - start)
        assert len(described["doc"]["children"]) == size
    return Sizes(size, from_json, create, raw_build(size), *describes, raw_describe(state))


async def measure_all(url: str, sizes: list[int]) -> list[Sizes]:
    return [await measure(url, size) for size in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10000,100000", help="elements per document, comma-separated (%(default)s)"
    )
    add_summary_argument(parser)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as data_dir, ours_server(data_dir) as (url, _):
        results = asyncio.run(measure_all(url, sizes))
    table = Table(title="big flat documents: create from JSON, describe cold and warm (ms)")
    for column in (
        "elements",
        "from_json",
        "sync.create",
        "raw pycrdt build",
        "describe cold",
        "describe warm",
        "raw pycrdt load + JSON",
    ):
        table.add_column(column, justify="right")
    for r in results:
        figures = (r.from_json, r.create, r.raw_build, r.cold_describe, r.warm_describe, r.raw_describe)
        table.add_row(f"{r.size:,}", *(f"{seconds * 1e3:,.0f}" for seconds in figures))
    Console().print(table)
    build, load = "raw pycrdt build, reversed inserts at 0", "raw pycrdt load + JSON"

    def per_element(seconds: float, size: int) -> float:
        return seconds * 1e6 / size

    rows = [
        *flat_in_size(
            Topic.CREATE_FROM_JSON,
            "MeshDocument.from_json, per element",
            [(r.size, per_element(r.from_json, r.size), per_element(r.raw_build, r.size)) for r in results],
            unit="µs",
            reference_label=build,
        ),
        *flat_in_size(
            Topic.CREATE_FROM_JSON,
            "sync.create(json=...), per element",
            [(r.size, per_element(r.create, r.size), per_element(r.raw_build, r.size)) for r in results],
            unit="µs",
            reference_label=build,
        ),
    ]
    for r in results:
        for kind, seconds in (("cold", r.cold_describe), ("warm, right after", r.warm_describe)):
            what = f"describe {kind}, {r.size:,} elements"
            rows.append(
                at_most(
                    Topic.COLD_DESCRIBE,
                    what,
                    seconds * 1e3,
                    r.raw_describe * 1e3,
                    factor=2,
                    unit="ms",
                    reference_label=load,
                )
            )
    record(args.summary, rows)


if __name__ == "__main__":
    main()
