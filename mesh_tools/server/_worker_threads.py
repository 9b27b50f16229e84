"""Work too big for the event loop, on worker threads, and the GIL switch interval that makes it pay.

A big update's check, apply and repair, a big document's load and describe, run on a worker thread so
the event loop keeps serving other documents. That helps only if the loop gets the GIL back quickly:
while a worker runs Python, the loop thread waits for it up to the interpreter's switch interval after
every system call (5 ms by default), and a probe round trip makes several. The room server lowers the
interval while it runs (docs/adr/0017-big-frames-off-the-event-loop.md); with no worker busy it costs
nothing, since the interval matters only to threads that want the GIL.
"""

from __future__ import annotations

import sys

__all__ = ["SWITCH_INTERVAL", "FastGilSwitching"]

#: Seconds a thread may hold the GIL while another waits for it (CPython's default: 0.005). 0.1 ms, not
#: 0.5: an event loop's round trip while a thread runs Python took twice the time at 0.5 ms (p50 0.83 ms
#: against 0.43, p99 1.76 against 0.78, idle 0.28; bench/gil_switching.py under chrt), and an 8 MiB
#: update's apply is tens of ms of Python every probe round shares. Below 0.1 ms nothing more was won.
SWITCH_INTERVAL = 0.0001


class FastGilSwitching:
    """Lowers ``sys.setswitchinterval`` while at least one holder (a running server) needs it."""

    _holders = 0
    _saved = 0.0

    @classmethod
    def acquire(cls) -> None:
        if cls._holders == 0:
            cls._saved = sys.getswitchinterval()
            sys.setswitchinterval(min(cls._saved, SWITCH_INTERVAL))
        cls._holders += 1

    @classmethod
    def release(cls) -> None:
        cls._holders -= 1
        if cls._holders == 0:
            sys.setswitchinterval(cls._saved)
