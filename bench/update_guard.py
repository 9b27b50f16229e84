"""What reading an update before applying it costs, beside applying it (the reference), same run.

    python bench/update_guard.py [--n 10000]

Rows: a one-element edit into a document of N elements (the check must not grow with the document);
a whole N-element state (what a first sync or sync.sync carries) into an empty replica and into one
that holds it already (the check trims to what the replica lacks first); one ~8 MiB update. Each row gives
mesh_tools.document.check_update and pycrdt's Doc.apply_update of the same bytes into a replica
holding the document (target: the check costs less than the apply, and the one-element row stays flat).

A second table: the room server's UpdateGuard, which also places each item against its record of the
replica's items: a one-element edit once the record is kept (must stay flat in N), and the first check
of a loaded replica, which records all of it once.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from _summary import Row, Topic, add_summary_argument, at_most, record
from document_ops import SCHEMA  # bench/ is on the path when a script runs
from pycrdt import Doc
from rich.console import Console
from rich.table import Table

from mesh_tools.document import MeshDocument, UpdateGuard, check_update


def median_seconds(repeats: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def document(n: int, text: str = "hello") -> MeshDocument:
    doc = MeshDocument(schema=SCHEMA)
    with doc.transaction():
        for i in range(n):
            doc.root.append_child("p", {"text": text, "n": i})
    return doc


def apply_seconds(repeats: int, base: bytes, update: bytes) -> float:
    times = []
    for _ in range(repeats):
        ydoc: Doc[Any] = Doc()
        ydoc.apply_update(base)
        start = time.perf_counter()
        ydoc.apply_update(update)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    add_summary_argument(parser)
    args = parser.parse_args()
    table = Table(title="check_update vs applying the same update")
    for column in ("update", "bytes", "check_update", "pycrdt apply (reference)", "ratio"):
        table.add_column(column)
    rows: list[tuple[str, bytes, bytes]] = []
    for n in (10, args.n):
        doc = document(n)
        state = doc.get_state()
        base = doc.get_update()
        doc.root.append_child("p", {"text": "one more", "n": 1})
        rows.append((f"one element into {n:,}", base, doc.get_update(state)))
    whole = document(args.n).get_update()
    rows.append((f"whole state of {args.n:,}", b"\x00\x00", whole))
    rows.append((f"whole state of {args.n:,} into a replica in sync", whole, whole))
    big = document(2_000, text="x" * 4_000).get_update()
    rows.append(("~8 MiB of elements", b"\x00\x00", big))
    summary: list[Row] = []
    for name, base, update in rows:
        repeats = 200 if len(update) < 10_000 else 5
        replica: Doc[Any] = Doc()
        replica.apply_update(base)
        known = replica.get_state()
        check = median_seconds(repeats, lambda: check_update(update, known=known))  # noqa: B023
        apply = apply_seconds(repeats, base, update)
        table.add_row(
            name,
            f"{len(update):,}",
            f"{check * 1e3:.3f} ms",
            f"{apply * 1e3:.3f} ms",
            f"{check / apply:.2f}x",
        )
        summary.append(
            at_most(
                Topic.UPDATE_CHECK,
                f"check_update, {name}",
                check * 1e3,
                apply * 1e3,
                factor=1,
                unit="ms",
                reference_label="pycrdt apply",
            )
        )
    Console().print(table)
    guarded = Table(title="UpdateGuard on a replica vs applying the same update")
    for column in ("update", "check", "pycrdt apply (reference)", "ratio"):
        guarded.add_column(column)
    for n in (10, args.n):
        doc = document(n)
        base = doc.get_update()
        author = MeshDocument(schema=SCHEMA)
        author.apply_update(base)
        state = author.get_state()
        author.root.append_child("p", {"text": "one more", "n": 1})
        update = author.get_update(state)
        guard = UpdateGuard(doc)
        guard.check(update, guard.prepare())  # the record is built once, on the first check
        kept = median_seconds(200, lambda: guard.check(update, guard.prepare()))  # noqa: B023
        first = median_seconds(5, lambda: UpdateGuard(doc).check(update, UpdateGuard(doc).prepare()))  # noqa: B023
        apply = apply_seconds(200, base, update)
        for name, seconds in (
            (f"one element into {n:,}, record kept", kept),
            (f"first check of {n:,}", first),
        ):
            guarded.add_row(
                name, f"{seconds * 1e3:.3f} ms", f"{apply * 1e3:.3f} ms", f"{seconds / apply:.2f}x"
            )
    Console().print(guarded)
    record(args.summary, summary)


if __name__ == "__main__":
    main()
