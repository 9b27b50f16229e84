"""What the storage writers share: taking a batch off the queue, per-document log sizes, settling futures,
and the backlog of appends not yet stored (the server's back-pressure, ``Storage.drain``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

_Op = TypeVar("_Op")
DocKey = tuple[str, str]


@dataclass(slots=True)
class LogStats:
    """A document's log since its snapshot, as this process knows it; drives compaction."""

    rows: int
    size: int


@dataclass(slots=True)
class Batch:
    """The outcome of one transaction: ``(ok, value or error)`` per operation, and logs due for folding."""

    results: list[tuple[bool, Any]] = field(default_factory=list)
    due: list[DocKey] = field(default_factory=list)


async def next_batch(
    queue: asyncio.Queue[_Op | None],
    max_batch: int,
    *,
    timeout: float | None = None,
    on_timeout: Callable[[], _Op] | None = None,
) -> tuple[list[_Op], bool]:
    """Wait for an operation, take what else is queued (at most ``max_batch``); True once None came.

    With ``timeout`` and ``on_timeout``, a queue still empty after ``timeout`` seconds yields
    ``on_timeout()`` as the batch's first operation (a failing storage probing whether it healed).
    """
    stopping = False
    batch: list[_Op] = []
    if timeout is None or on_timeout is None:
        first = await queue.get()
    else:
        try:
            first = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            first = on_timeout()
    if first is None:
        stopping = True
    else:
        batch.append(first)
    while not queue.empty() and len(batch) < max_batch:
        op = queue.get_nowait()
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
