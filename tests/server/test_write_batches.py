"""What the storage writers share: per-document log counts across folds, and batches taken by a thread."""

from __future__ import annotations

import queue

from mesh_tools.server._write_batches import CompactionPolicy, DocumentLogs, take_batch

KEY = ("room", "doc")


def test_a_fold_of_the_logs_start_leaves_the_rows_appended_after_it_counted() -> None:
    logs = DocumentLogs(CompactionPolicy(rows=10, min_bytes=10**9, ratio=100.0, age=3600.0))
    logs.learn(KEY, rows=8, size=800, snapshot=50)
    assert not logs.due(KEY)
    for _ in range(6):  # appended while a fold of the first 8 rows was computed
        logs.add(KEY, 100)
    assert logs.due(KEY)  # 14 rows
    logs.folded(KEY, 900, rows=8, size=800)
    assert logs.snapshot_size(KEY) == 900
    assert logs.unfolded() == [KEY] and not logs.due(KEY)  # 6 rows left, under 10
    for _ in range(5):
        logs.add(KEY, 100)
    assert logs.due(KEY)  # 11 rows: the 6 were not forgotten
    logs.folded(KEY, 1000)  # all of it
    assert logs.unfolded() == [] and not logs.waiting


def test_a_thread_takes_what_is_queued_up_to_the_batch_size_and_sees_the_stop() -> None:
    operations: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    assert take_batch(operations, 3, timeout=0.01) == ([], False)  # nothing came: an empty batch
    for op in (1, 2, 3, 4):
        operations.put(op)
    assert take_batch(operations, 3, timeout=None) == ([1, 2, 3], False)
    operations.put(None)
    assert take_batch(operations, 3, timeout=None) == ([4], True)
