"""A document's snapshot: its stored updates merged, with overwritten and deleted content dropped.

``merge_updates`` alone keeps every value ever written (an attribute set 1,000 times is stored 1,000
times), so a snapshot of an overwrite-heavy document grew to several times its live state. Applying the
merged update to a fresh garbage-collecting ``Doc`` and encoding that drops the overwritten content, as
a live document does. But a ``Doc`` leaves out what it could not integrate: structs whose dependencies
have not arrived yet, and deletions of items it has not seen. Those are taken back from the merged
update (its difference from the ``Doc``'s state vector, which carries the whole delete set), so the
snapshot keeps exactly what the log promised, and a missing update that arrives later still integrates.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, get_update, merge_updates

from ._worker_process import run_in_worker_process

__all__ = ["compact_updates"]

#: Logs from this size on are folded in the worker process: pycrdt would hold the GIL for tens of
#: milliseconds and more (420 ms for 60k elements), and the writer thread shares it with the event loop:
#: with the loop busy, a fold of 1,000 small updates (25 ms of CPU) took 130-360 ms there, and delayed
#: the appends queued behind it as long. The trip costs ~2 ms; folds smaller than this cost less inline.
_OWN_PROCESS_BYTES = 16 << 10


def compact_updates(*updates: bytes) -> bytes:
    """One update equivalent to ``updates`` applied in order, without the content they overwrote.

    Pure CPU work on bytes: storage backends run it on a worker thread, never on the event loop, and a
    big log is folded in a process of its own (``_worker_process``).
    """
    if sum(map(len, updates)) < _OWN_PROCESS_BYTES:
        return _compact(updates)
    return run_in_worker_process(_compact, updates)


def _compact(updates: tuple[bytes, ...]) -> bytes:
    merged = merge_updates(*updates)
    doc: Doc[Any] = Doc()  # garbage collection on: deleted content becomes tombstones without payload
    doc.apply_update(merged)
    integrated = doc.get_update()
    # Structs past the Doc's state vector (pending) and the full delete set (ranges, so small).
    pending = get_update(merged, doc.get_state())
    return merge_updates(integrated, pending)
