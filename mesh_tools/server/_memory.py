"""Handing memory back to the operating system after documents are unloaded.

glibc's malloc keeps what a program frees in its arenas for reuse, so a server that loaded and unloaded
many documents kept most of their memory resident: measured with ``bench/storage_memory.py``, 100
unloaded documents of 1,000 elements left 212 MiB resident, 45 MiB after ``malloc_trim(0)``. The trim
walks the heap (milliseconds on a big one), so it runs on a worker thread (ctypes releases the GIL
during the call) and at most once per ``interval`` after unloads, not once per document. Where the C
library has no ``malloc_trim`` (musl, macOS) nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["MemoryTrimmer"]


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


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
