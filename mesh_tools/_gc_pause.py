"""Pausing the cyclic garbage collector around work that allocates many short-lived containers.

CPython's collector runs on whichever thread allocates, holding the GIL for the whole pass; a full
pass over a room server's heap took tens of milliseconds on a 2-core machine, long enough to stall
every other thread (docs/adr/0017-big-frames-off-the-event-loop.md).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


class _GcPause:
    """Who has paused the cyclic GC, counted, so that pauses on several threads (a worker thread's
    big check while the event loop reads a document) nest: the last one out re-enables it, and only
    if it was enabled before the first one came in."""

    lock = threading.Lock()
    holders = 0
    was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a whole-tree read or a big update allocates tens of thousands of
    acyclic containers.

    Its generational passes over them doubled the time of some 10k-element reads, and a full pass,
    which holds the GIL throughout, stalled every other thread of a room server for tens of
    milliseconds (docs/adr/0017-big-frames-off-the-event-loop.md). Objects that die by the end of
    the block never reach a collection at all.
    """
    with _GcPause.lock:
        if _GcPause.holders == 0:
            _GcPause.was_enabled = gc.isenabled()
            gc.disable()
        _GcPause.holders += 1
    try:
        yield
    finally:
        with _GcPause.lock:
            _GcPause.holders -= 1
            if _GcPause.holders == 0 and _GcPause.was_enabled:
                gc.enable()
