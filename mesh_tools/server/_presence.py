"""Presence (y-protocols awareness) of one document: the last state each client announced.

The server keeps every client's latest awareness entry so that a participant who joins sees everyone at
once (y-websocket's own server only relays, so a joiner waited up to 15 s for the next renewals). A
channel's clients are removed when it goes (its ServerChannel knows which it announced), and an entry
not renewed within ``timeout`` seconds (clients renew every 15 s) is removed too. Nothing here touches a
socket: the methods return the awareness y-messages to send.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..sync import NULL_STATE, AwarenessEntry, awareness_removal_message, decode_awareness, encode_awareness

__all__ = ["AWARENESS_TIMEOUT", "Presence"]

#: y-protocols' ``outdatedTimeout``: a client that has not renewed its state for this long is gone.
AWARENESS_TIMEOUT = 30.0


@dataclass(slots=True)
class _Held:
    entry: AwarenessEntry
    seen: float


class Presence:
    """Awareness entries by client id; ``now`` is injectable so tests need no sleeping."""

    def __init__(
        self, *, timeout: float = AWARENESS_TIMEOUT, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.timeout = timeout
        self._now = now
        self._held: dict[int, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def states(self) -> dict[int, str]:
        """Client id → JSON text of its current state."""
        return {client: held.entry.state for client, held in self._held.items()}

    def apply(self, message: bytes) -> None:
        """Record an awareness y-message (ProtocolError if it is malformed).

        A newer clock replaces an entry and an equal clock with a ``null`` state removes it: the rule
        every y-protocols peer applies, so the server's view matches theirs.
        """
        now = self._now()
        for entry in decode_awareness(message):
            held = self._held.get(entry.client)
            if held is not None and (
                entry.clock < held.entry.clock
                or (entry.clock == held.entry.clock and entry.state != NULL_STATE)
            ):
                continue
            if entry.state == NULL_STATE:
                self._held.pop(entry.client, None)
            else:
                self._held[entry.client] = _Held(entry, now)

    def snapshot(self) -> bytes | None:
        """Every current state in one awareness y-message (for a joiner, or QueryAwareness); None if none."""
        if not self._held:
            return None
        return encode_awareness([held.entry for held in self._held.values()])

    def expire(self) -> bytes | None:
        """Forget the clients not renewed within ``timeout``; the removal message, or None."""
        deadline = self._now() - self.timeout
        gone = {client: held.entry.clock for client, held in self._held.items() if held.seen <= deadline}
        for client in gone:
            del self._held[client]
        return awareness_removal_message(gone) if gone else None
