"""Document operation costs, each beside its reference measured in the same run.

    python bench/document_ops.py [--n 10000]

Prints: append_child through MeshDocument vs a raw pycrdt XmlElement append (target <= 3x);
to_json() of an N-element document vs json.dumps of the same tree as plain dicts (target < 30 ms at 10k);
element_by_id at 10 and N elements (target: flat).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from _summary import FLAT_FACTOR, Row, Topic, add_summary_argument, at_most, record  # bench/ is on the path
from pycrdt import Doc, XmlElement, XmlFragment
from rich.console import Console
from rich.table import Table

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import MeshDocument

SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(
            tag_name="p",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="n", type="number")],
        ),
    ],
)


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """Median of several runs, in seconds; the median resists a noisy neighbour better than the mean."""
    return statistics.median(run() for _ in range(repeats))


def time_raw_appends(n: int) -> float:
    doc: Doc[Any] = Doc()
    root = doc.get("mesh", type=XmlFragment).children.append(XmlElement("doc", {"$id": "root"}))
    start = time.perf_counter()
    for i in range(n):
        root.children.append(XmlElement("p", {"$id": f"id{i}", "text": "hello", "n": i}))
    return time.perf_counter() - start


def time_api_appends(n: int) -> float:
    document = MeshDocument(schema=SCHEMA)
    root = document.root
    start = time.perf_counter()
    for i in range(n):
        root.append_child("p", {"text": "hello", "n": i})
    return time.perf_counter() - start


def build(n: int) -> MeshDocument:
    document = MeshDocument(schema=SCHEMA)
    with document.transaction():
        for i in range(n - 1):
            document.root.append_child("p", {"text": f"paragraph {i}", "n": i})
    return document


def time_to_json(document: MeshDocument) -> float:
    start = time.perf_counter()
    document.to_json()
    return time.perf_counter() - start


def time_crdt_read(document: MeshDocument) -> float:
    """The floor under to_json(): pycrdt reading every tag and attribute, with no Python tree built."""
    xml = document.root._xml
    start = time.perf_counter()
    with document.ydoc.transaction() as txn:
        stack = [xml.integrated]
        while stack:
            inner = stack.pop()
            inner.attributes(txn._txn)
            stack.extend(inner.children(txn._txn))
    return time.perf_counter() - start


def time_dumps(tree: dict[str, Any]) -> float:
    start = time.perf_counter()
    json.dumps(tree)
    return time.perf_counter() - start


def time_lookups(document: MeshDocument, lookups: int = 100_000) -> float:
    ids = [e.id for e in document]
    start = time.perf_counter()
    for i in range(lookups):
        document.element_by_id(ids[i % len(ids)])
    return (time.perf_counter() - start) / lookups


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="document size in elements")
    parser.add_argument("--repeats", type=int, default=5)
    add_summary_argument(parser)
    args = parser.parse_args()
    n, repeats = args.n, args.repeats

    raw = best_of(repeats, lambda: time_raw_appends(n)) / n
    api = best_of(repeats, lambda: time_api_appends(n)) / n
    big = build(n)
    tree = big.to_json()
    ours_json = best_of(repeats, lambda: time_to_json(big))
    dumps = best_of(repeats, lambda: time_dumps(tree))
    floor = best_of(repeats, lambda: time_crdt_read(big))
    small = build(10)
    lookup_small = best_of(repeats, lambda: time_lookups(small))
    lookup_big = best_of(repeats, lambda: time_lookups(big))

    table = Table(title=f"document operations (n={n:,}, median of {repeats})")
    for column in ("operation", "mesh-tools", "reference", "ratio", "target"):
        table.add_column(column, justify="right" if column != "operation" else "left")
    table.add_row(
        "append_child, per call",
        f"{api * 1e6:.1f} µs",
        f"{raw * 1e6:.1f} µs raw pycrdt",
        f"{api / raw:.2f}x",
        "<= 3x",
    )
    table.add_row(
        f"to_json(), {n:,} elements",
        f"{ours_json * 1e3:.1f} ms",
        f"{dumps * 1e3:.1f} ms json.dumps(dicts)",
        f"{ours_json / dumps:.1f}x",
        "< 30 ms",
    )
    table.add_row(
        "  the CRDT read alone",
        "",
        f"{floor * 1e3:.1f} ms pycrdt read",
        f"{ours_json / floor:.1f}x",
        "",
    )
    table.add_row(
        "element_by_id",
        f"{lookup_big * 1e9:.0f} ns @ {n:,}",
        f"{lookup_small * 1e9:.0f} ns @ 10",
        f"{lookup_big / lookup_small:.2f}x",
        "flat (~1x)",
    )
    Console().print(table)
    record(
        args.summary,
        (
            at_most(
                Topic.DOCUMENT_OPS,
                "append_child, per call",
                api * 1e6,
                raw * 1e6,
                factor=3,
                unit="µs",
                reference_label="raw pycrdt append",
            ),
            Row(
                Topic.DOCUMENT_OPS,
                f"to_json(), {n:,} elements",
                ours_json * 1e3,
                dumps * 1e3,
                "ms",
                "json.dumps(dicts)",
                "< 30 ms",
                ours_json < 0.030,
            ),
            at_most(
                Topic.DOCUMENT_OPS,
                f"element_by_id at {n:,} elements",
                lookup_big * 1e9,
                lookup_small * 1e9,
                factor=FLAT_FACTOR,
                unit="ns",
                reference_label="at 10 elements",
            ),
        ),
    )


if __name__ == "__main__":
    main()
