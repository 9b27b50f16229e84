"""Pure CPU work too big to hold the GIL for, in a process of its own.

pycrdt's calls hold the GIL from start to end: folding a 60k-element document's log into a snapshot
(``merge_updates``, applying to a fresh ``Doc``, encoding it) took 420 ms, during which no thread of the
server, the event loop included, ran at all; a worker thread does not help there. Work on bytes that
only returns bytes can run in another process instead, for the price of copying them through a pipe
(milliseconds for megabytes). The process is spawned on first use (not forked: the server has threads)
and serves for the server's lifetime; if it dies, the next call starts another.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

__all__ = ["run_in_worker_process"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def run_in_worker_process(
    function: Callable[[tuple[bytes, ...]], bytes], arguments: tuple[bytes, ...]
) -> bytes:
    """``function(arguments)`` in the worker process, blocking the calling thread (never the event loop's).

    ``function`` must be importable by name (a module-level function). If the process cannot be
    started or dies (killed for memory), the work runs in this process instead: slower for the
    others, but nothing is lost.
    """
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool = _pool
    try:
        return pool.submit(function, arguments).result()
    except (BrokenProcessPool, OSError) as exc:
        logger.warning("the worker process failed (%s); doing the work in the server's process", exc)
        with _lock:
            if _pool is pool:
                _pool = None
        pool.shutdown(wait=False)
        return function(arguments)
