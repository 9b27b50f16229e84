"""A queue that admits work by its size in bytes, so big pieces of work from many clients stay bounded.

Big updates are read in the server's one worker process (docs/adr/0017-big-frames-off-the-event-loop.md).
Each waiting for it would otherwise hold a thread of the event loop's executor (blocked on the pipe)
and a copy of its update: ten clients sending 8 MiB at once held every executor thread, and loads
and describes of other documents waited behind them. Waiting here costs an entry in a queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ByteBudget"]


class ByteBudget:
    """Admits work while the bytes admitted and not yet done stay within ``limit``, in arrival order.

    A piece bigger than the limit is admitted when nothing else is in, alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: The bytes admitted and not done.
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Wait until ``size`` bytes fit, hold them for the block."""
        if self._waiting or not self._fits(size):
            admitted = asyncio.get_running_loop().create_future()
            entry = (size, admitted)
            self._waiting.append(entry)
            try:
                await admitted
            except asyncio.CancelledError:
                if admitted.done() and not admitted.cancelled():
                    self._release(size)  # admitted just as the waiter was cancelled
                else:
                    self._waiting.remove(entry)
                    self._admit()  # the next may fit now that this one leaves the front
                raise
        else:
            self.used += size
        try:
            yield
        finally:
            self._release(size)

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.limit

    def _release(self, size: int) -> None:
        self.used -= size
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            size, admitted = self._waiting.popleft()
            self.used += size
            admitted.set_result(None)
