"""The document updates last sent to one participant, to recognise them when the participant sends them back.

A client that sends every update its replica makes, whatever its origin, sends the server's own updates
back as soon as it has applied them: pycrdt's ``Provider`` does (it forwards every transaction's update),
as does any y-websocket client without an origin filter. Applied, such an echo changes nothing, but it
is read like any update first: the update guard decodes it in pure Python (~1 us a byte) before yrs
ever sees it. In a busy room every reader echoes what all the others wrote, so the server read 8.5
times as many bytes as were written (``python bench/writers.py --writers 50``: 5.4 MB of echoes for
0.64 MB of edits) and spent most of its time on them.

When a replica applies an update of new inserted structs, its transaction's update is the very bytes it
applied (an overwrite or a delete mostly comes back re-encoded); so an incoming update equal, byte for
byte, to one sent on the same channel is dropped. Nothing is lost: what the server sent came from its
replica, which holds it. An echo that differs is read and applied as before, a no-op.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SentUpdates"]

#: What an update never sent maps to: no channel key is this object (None may be one).
_UNSENT = object()


class SentUpdates:
    """The last updates sent, by channel key, bounded in bytes and in number; each is recognised once."""

    def __init__(self, max_bytes: int, max_updates: int) -> None:
        self._max_bytes = max_bytes
        self._max_updates = max_updates
        #: Update -> the channel key it went to, oldest first. Ordered: forgetting the oldest and taking
        #: out an echo are both O(1), where a plain dict's first key is found past every deleted slot.
        self._sent: OrderedDict[bytes, object] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._sent)

    @property
    def size(self) -> int:
        """Bytes remembered."""
        return self._bytes

    def remember(self, key: object, update: bytes) -> None:
        """``update`` was sent on the channel ``key``; the oldest remembered are forgotten past the bound."""
        if len(update) > self._max_bytes:
            return
        if self._sent.pop(update, _UNSENT) is not _UNSENT:
            self._bytes -= len(update)
        self._sent[update] = key
        self._bytes += len(update)
        while self._bytes > self._max_bytes or len(self._sent) > self._max_updates:
            oldest, _ = self._sent.popitem(last=False)
            self._bytes -= len(oldest)

    def echoed(self, key: object, update: bytes) -> bool:
        """True (and forgotten) if ``update`` is exactly one sent on the channel ``key``."""
        if self._sent.get(update, _UNSENT) is not key:
            return False
        del self._sent[update]
        self._bytes -= len(update)
        return True
