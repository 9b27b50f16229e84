"""Handing memory back to the operating system after documents are unloaded, and reusing it before.

glibc's malloc keeps what a program frees in its arenas for reuse, so a server that loaded and unloaded
many documents kept most of their memory resident: measured with ``bench/storage_memory.py``, 100
unloaded documents of 1,000 elements left 212 MiB resident, 45 MiB after ``malloc_trim(0)``. The trim
walks the heap (milliseconds on a big one), so it runs on a worker thread (ctypes releases the GIL
during the call) and at most once per ``interval`` after unloads, not once per document. Where the C
library has no ``malloc_trim`` (musl, macOS) nothing is done.

Meanwhile a busy server should reuse what it freed. By default glibc maps each block over its mmap
threshold (128 KiB, raised to the size of the last such block freed) afresh and unmaps it when freed, and
the kernel faults a fresh mapping in page by page as it is first written: 5-7 ms per 8 MiB on this VM
against ~1 ms to copy into pages already in (measured under ``chrt``), with the GIL held by whatever
copy writes it. One 8 MiB update makes several such buffers (websockets' frame and its unmasking, the
channel split, the request to the worker process and its answer, the stored row), each a stall of every
room. :func:`reuse_freed_memory` has blocks up to 32 MiB served from the heap, and keeps freed heap
memory for the next one (docs/adr/0017-big-frames-off-the-event-loop.md).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["MemoryTrimmer", "reuse_freed_memory"]

#: glibc's ``mallopt`` parameters, and the biggest mmap threshold it takes on a 64-bit system.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_HEAP_BLOCK_BYTES = 32 * 2**20
#: Free memory at the top of the heap kept for reuse rather than handed back at once (glibc's own rule
#: when it raises the mmap threshold: twice that).
_KEPT_FREE_BYTES = 2 * _HEAP_BLOCK_BYTES


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None
    return function


_malloc_trim = _libc_function("malloc_trim")
_mallopt = _libc_function("mallopt")


def reuse_freed_memory() -> bool:
    """Have malloc serve blocks up to 32 MiB from the heap and keep what is freed there for reuse.

    Process-wide and not undone, so a program that owns its process calls it (``mesh-tools serve``),
    never a library on import. Returns False where the C library has no ``mallopt`` (musl, macOS) or
    refuses. A :class:`MemoryTrimmer` still hands freed memory back after unloads: ``malloc_trim``
    releases free pages anywhere in the heap, so an idle server keeps no more than before.
    """
    if _mallopt is None:
        return False
    # Setting either ends glibc's own raising of both, so both are set.
    return bool(_mallopt(_M_TRIM_THRESHOLD, _KEPT_FREE_BYTES)) and bool(
        _mallopt(_M_MMAP_THRESHOLD, _HEAP_BLOCK_BYTES)
    )


class MemoryTrimmer:
    """Returns freed heap memory to the operating system, ``interval`` seconds after documents unloaded."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._due: asyncio.TimerHandle | None = None
        self._running: asyncio.Future[int] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def supported(self) -> bool:
        """False where the C library cannot return memory (then :meth:`freed` does nothing)."""
        return _malloc_trim is not None

    def freed(self) -> None:
        """Memory was freed (a document unloaded): trim once the unloads around it are done."""
        if _malloc_trim is None or self._due is not None:
            return
        self._idle.clear()
        self._due = asyncio.get_running_loop().call_later(self.interval, self._trim)

    async def settled(self) -> None:
        """Return once no trim is due or running (for measuring memory after unloads)."""
        await self._idle.wait()

    def close(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if self._running is None:
            self._idle.set()

    def _trim(self) -> None:
        self._due = None
        assert _malloc_trim is not None
        if self._running is not None:  # still trimming: once more after this one
            self._due = asyncio.get_running_loop().call_later(self.interval, self._trim)
            return
        self._running = asyncio.get_running_loop().run_in_executor(None, _malloc_trim, 0)
        self._running.add_done_callback(self._trimmed)

    def _trimmed(self, future: asyncio.Future[int]) -> None:
        self._running = None
        if self._due is None:
            self._idle.set()
