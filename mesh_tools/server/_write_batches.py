"""What the storage writers share: taking a batch off the queue, per-document log sizes and when to fold
them, settling futures, and the backlog of appends not yet stored (the server's back-pressure,
``Storage.drain``)."""

from __future__ import annotations

import asyncio
import queue
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

_Op = TypeVar("_Op")
DocKey = tuple[str, str]

#: Seconds between scans for logs that waited ``CompactionPolicy.age``.
AGE_SCAN_INTERVAL = 1.0
#: What a log row costs on disk beyond its update and its document's key, which the row and its index
#: entry both carry: sequence number, headers, index pointers. Counted so the log's size is its size on
#: disk, not only its payload (a small update's row is mostly overhead).
_ROW_OVERHEAD = 24


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """When a document's log is folded into its snapshot (docs/adr/0015-durable-writes-under-load.md).

    By size: once the log outgrows ``ratio`` times the snapshot (and at least ``min_bytes``), so the
    database stays within a small multiple of the live state and each fold, whose cost is the
    document's size, is paid for by as many appended bytes. By ``rows``, so a load merges a bounded log.
    By ``age``: a log that stopped growing is folded after that many seconds, not only at shutdown.
    """

    rows: int
    min_bytes: int
    ratio: float
    age: float

    def due(self, log: LogStats, now: float) -> bool:
        if not log.rows:
            return False
        return (
            log.rows > self.rows
            or log.size > max(self.min_bytes, self.ratio * log.snapshot)
            or now - log.since >= self.age
        )


@dataclass(slots=True)
class LogStats:
    """A document's log since its snapshot, as this process knows it; drives compaction."""

    rows: int
    #: Bytes the log takes on disk (estimated: its updates plus a fixed cost per row).
    size: int
    #: Bytes of the snapshot the log folds into.
    snapshot: int
    #: ``time.monotonic()`` when the oldest row not yet folded was counted.
    since: float


class DocumentLogs:
    """Per-document log sizes since the last fold, and which logs are due under a :class:`CompactionPolicy`.

    A document is learnt from the database on its first append in this process (``learn``), then
    counted as appends are written; other processes sharing the database may write more than counted.
    """

    def __init__(self, policy: CompactionPolicy) -> None:
        self.policy = policy
        self._logs: dict[DocKey, LogStats] = {}
        self._scanned = 0.0

    def known(self, key: DocKey) -> bool:
        return key in self._logs

    def learn(self, key: DocKey, rows: int, size: int, snapshot: int) -> None:
        """Record the log as the database holds it (the rows just written included): ``size`` is the
        updates' bytes."""
        self._logs[key] = LogStats(rows, size + rows * _row_overhead(key), snapshot, time.monotonic())

    def add(self, key: DocKey, size: int) -> None:
        """Count one row appended to the log, of an update of ``size`` bytes."""
        log = self._logs[key]
        if not log.rows:
            log.since = time.monotonic()
        log.rows += 1
        log.size += size + _row_overhead(key)

    def due(self, key: DocKey) -> bool:
        return self.policy.due(self._logs[key], time.monotonic())

    def snapshot_size(self, key: DocKey) -> int:
        """Bytes of the snapshot the document's log folds into; 0 for a document not counted yet."""
        log = self._logs.get(key)
        return 0 if log is None else log.snapshot

    def folded(self, key: DocKey, snapshot: int, rows: int | None = None, size: int = 0) -> None:
        """The log went into a snapshot of ``snapshot`` bytes: all of it, or its first ``rows`` rows,
        of ``size`` bytes of updates (the rows after them stay counted, to be folded next)."""
        log = self._logs.get(key)
        if rows is None or log is None:
            self._logs[key] = LogStats(0, 0, snapshot, time.monotonic())
            return
        log.rows = max(log.rows - rows, 0)
        log.size = max(log.size - size - rows * _row_overhead(key), 0)
        log.snapshot = snapshot
        log.since = time.monotonic()  # when the rows left were counted is not kept: from now on

    @property
    def waiting(self) -> bool:
        """True while some log is not folded: the writer must wake up to fold it once it is old."""
        return any(log.rows for log in self._logs.values())

    def unfolded(self) -> list[DocKey]:
        return [key for key, log in self._logs.items() if log.rows]

    def aged(self) -> list[DocKey]:
        """Logs due now (by age, mostly); scans at most once per ``AGE_SCAN_INTERVAL``."""
        now = time.monotonic()
        if now - self._scanned < AGE_SCAN_INTERVAL:
            return []
        self._scanned = now
        return [key for key, log in self._logs.items() if self.policy.due(log, now)]

    def clear(self) -> None:
        self._logs.clear()


@dataclass(slots=True)
class Batch:
    """The outcome of one transaction: ``(ok, value or error)`` per operation, and logs due for folding."""

    results: list[tuple[bool, Any]] = field(default_factory=list)
    due: list[DocKey] = field(default_factory=list)


def _row_overhead(key: DocKey) -> int:
    return _ROW_OVERHEAD + 2 * (len(key[0]) + len(key[1]))


async def next_batch(queue: asyncio.Queue[_Op | None], max_batch: int) -> tuple[list[_Op], bool]:
    """Wait for an operation, take what else is queued (at most ``max_batch``); True once None came."""
    first = await queue.get()
    stopping = first is None
    batch: list[_Op] = [] if first is None else [first]
    while not queue.empty() and len(batch) < max_batch:
        op = queue.get_nowait()
        if op is None:
            stopping = True
        else:
            batch.append(op)
    return batch, stopping


class CommitPacing:
    """How long appends that come soon after a commit wait for more before they are committed.

    Every commit ends in an fsync, and on a virtual machine whose host does the I/O on the guest's
    CPUs, about one fsync in twenty stalls every other process for 1-8 ms (measured here: a process
    sleeping in a loop beside one that fsyncs). One commit per edit put such a stall into one edit in
    twenty: edit->visible p99 was five times its median. Paced, steady appends cost at most one fsync
    per ``interval``; the first append after a quiet spell is committed at once, and so is a batch
    with any other operation (a load, a create, ``flush``), which somebody is waiting for.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -interval

    def delay(self) -> float:
        """Seconds appends taken now wait for company (0: commit them now)."""
        return max(0.0, self._last + self.interval - time.monotonic())

    def committing(self) -> None:
        self._last = time.monotonic()


def take_batch(
    operations: queue.SimpleQueue[_Op | None], max_batch: int, *, timeout: float | None
) -> tuple[list[_Op], bool]:
    """:func:`next_batch` for a writer thread: blocks the calling thread, and yields an empty batch if
    nothing came within ``timeout`` seconds."""
    try:
        first = operations.get(timeout=timeout)
    except queue.Empty:
        return [], False
    stopping = first is None
    batch: list[_Op] = [] if first is None else [first]
    while len(batch) < max_batch:
        try:
            op = operations.get_nowait()
        except queue.Empty:
            break
        if op is None:
            stopping = True
        else:
            batch.append(op)
    return batch, stopping


class Backlog:
    """Bytes appended and not yet stored, against ``limit``: :meth:`wait` holds readers while over it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._within = asyncio.Event()
        self._within.set()

    def added(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            self._within.clear()

    def stored(self, size: int) -> None:
        """``size`` bytes of appends were settled (stored, or failed: either way no longer waiting)."""
        self.size -= size
        if self.size <= self.limit:
            self._within.set()

    async def wait(self) -> None:
        await self._within.wait()


def settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller gave up waiting (cancelled); the write itself happened or failed
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
