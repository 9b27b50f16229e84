"""Per-connection pacing: token buckets that slow a sender down, and drop only what may be dropped.

The server reads a connection's next frame only after the previous one is handled, so waiting before
handling a frame pushes back on that sender through TCP alone: no update is dropped, no replica
diverges, and other connections are served meanwhile. Awareness over its rate is dropped instead:
presence is a last-writer-wins state that clients send again, and a paced flood of it would hold the
connection's pongs and close frame behind it. See docs/server.md, Limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["RateLimits", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What one connection may send, sustained and in a burst."""

    #: Frames of any kind (requests, sync, awareness).
    frames_per_second: float = 500.0
    frame_burst: float = 1_000.0
    #: Bytes of any kind; the burst admits one frame of the largest allowed size at once.
    bytes_per_second: float = 4 * 2**20
    byte_burst: float = 32 * 2**20
    #: Awareness frames (presence, cursors): cheap to send, fanned out to everyone.
    awareness_per_second: float = 20.0
    awareness_burst: float = 40.0


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._stamp = time.monotonic()

    def try_take(self, cost: float) -> bool:
        """Spend ``cost`` tokens if there are that many; False (and nothing spent) if not."""
        self._refill()
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, cost: float) -> float:
        """Spend ``cost`` tokens; the seconds to wait before acting so the rate holds (0: act now)."""
        self._refill()
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
