"""One row of the combined benchmark table: what each bench records with ``--summary FILE``.

A bench appends its rows to FILE as JSON lines; bench/all.py runs every bench with the same FILE and
prints one table grouped by ``Topic`` (the rows of issue 16's table, then issue 9's isolation figures,
then the other benches' own targets). Ratios are ours / reference, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

#: "Per-edit cost flat from 1k to 100k elements" (issue 16): the cost at the largest size within this
#: factor of the cost at the smallest. Timing noise on a shared machine alone moves medians by ~1.5x.
FLAT_FACTOR = 2.0


class Topic(StrEnum):
    """A row of issue 16's table (in its order), issue 9's isolation, or another bench's own target."""

    SERVER_DELETE = "server CPU per incoming delete"
    LOCAL_DELETE = "local delete()"
    FLUSH_AFTER_LOCAL_EDITS = "flush after 600 local edits, flat 10k"
    REMOTE_INSERT_ATTRIBUTE = "remote insert / attribute change"
    DURABLE_BUSY_LOOP = "durable appends/s while the event loop is busy"
    WRITING_FLAT_OUT = "one client writing flat out: applied vs durably stored"
    MANY_WRITERS = "many writers in one room: offered vs applied, evictions"
    OPEN_500 = "one RoomClient opening 500 documents at once"
    COLD_LOAD = "cold load (server) from a snapshot"
    COLD_DESCRIBE = "cold describe"
    CREATE_FROM_JSON = "sync.create(json=...) / MeshDocument.from_json"
    LOG_LOAD = "room load from an uncompacted log"
    STORAGE_SIZE = "database + WAL while running / snapshot of an overwrite-heavy document"
    MEMORY = "server memory per loaded document"
    EDIT_TO_VISIBLE = "edit→visible, 2 clients"
    TOOL_CALL = 'toolkit.call("append_child")'
    SOCKET_WRITES = "socket writes per frame under fan-out"
    ISOLATION = "other participants' latency while one misbehaves (issue 9)"
    FANOUT = "fan-out throughput"
    TOOL_DEFINITIONS = "tool definition bytes in every request"
    CLUSTER = "rooms across nodes"
    DOCUMENT_OPS = "document operations"
    UPDATE_CHECK = "reading an update before applying it"
    TYPING = "typing into collaborative text"
    BIG_DOCUMENTS = "agents on big documents"


#: The topics that are rows of issue 16's table: the combined table lists every one, measured or not.
ISSUE_16_TABLE = tuple(Topic)[: list(Topic).index(Topic.SOCKET_WRITES) + 1]


@dataclass(frozen=True)
class Row:
    """One figure: ours beside the reference measured in the same run, and the target it answers to.

    ``met`` is None where the figure has no target (shown for context).
    """

    topic: Topic
    what: str
    ours: float
    reference: float | None
    unit: str
    reference_label: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.ours / self.reference

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> Row:
        fields = json.loads(line)
        return cls(**{**fields, "topic": Topic(fields["topic"])})


def at_most(
    topic: Topic,
    what: str,
    ours: float,
    reference: float,
    *,
    factor: float,
    unit: str,
    reference_label: str,
) -> Row:
    """A row whose target is ours ≤ ``factor`` x the reference (a cost: lower is better)."""
    target = f"≤ {factor:g}x {reference_label}"
    return Row(topic, what, ours, reference, unit, reference_label, target, ours <= factor * reference)


def context(
    topic: Topic, what: str, ours: float, reference: float | None, *, unit: str, reference_label: str
) -> Row:
    """A row with no target of its own, shown beside the ones that have one."""
    return Row(topic, what, ours, reference, unit, reference_label, "", None)


def flat_in_size(
    topic: Topic, what: str, series: list[tuple[int, float, float]], *, unit: str, reference_label: str
) -> list[Row]:
    """Rows for a cost measured at growing sizes, ``(size, ours, reference)`` each: every size beside
    its reference, and the target that ours stays flat (``FLAT_FACTOR``) from the smallest size."""
    smallest, base, _ = series[0]
    rows = []
    for size, ours, reference in series:
        label = f"{what}, {size:,} elements"
        if size == smallest:
            rows.append(context(topic, label, ours, reference, unit=unit, reference_label=reference_label))
            continue
        target = f"flat: ≤ {FLAT_FACTOR:g}x ours at {smallest:,}"
        rows.append(
            Row(topic, label, ours, reference, unit, reference_label, target, ours <= FLAT_FACTOR * base)
        )
    return rows


def add_summary_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also append this run's figures to FILE as JSON lines, for bench/all.py's combined table",
    )


def record(path: Path | None, rows: Iterable[Row]) -> None:
    """Append ``rows`` to the summary file, if the bench was given one."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as summary:
        summary.writelines(row.to_json() + "\n" for row in rows)


def read(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def number(value: float) -> str:
    """Three significant figures at most, thousands separated: 0.0812, 3.62, 59.1, 832, 66,464."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100 or magnitude == int(magnitude):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"
