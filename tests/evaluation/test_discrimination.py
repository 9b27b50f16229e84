"""The discrimination self-test: each bad policy fails exactly the tasks it breaks; the reference none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mesh_tools.evaluation import BadPolicy, Task, discriminate, load_suite

EVALS = Path(__file__).resolve().parents[2] / "evals"


async def test_every_bad_policy_fails_every_core_task_it_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    table = await discriminate(load_suite(EVALS / "core"))
    print(table.markdown())
    rows = {row.policy: row for row in table.rows}
    assert table.ok, table.markdown()
    assert rows[BadPolicy.REFERENCE].passed == rows[BadPolicy.REFERENCE].tasks == 36
    # 6 of the 36 tasks are requests to decline: doing nothing is right there and wrong everywhere else.
    assert rows[BadPolicy.DOES_NOTHING].broken == rows[BadPolicy.ANSWERS_WITHOUT_ACTING].broken == 30
    assert rows[BadPolicy.ACTS_ON_DECLINE].broken == 6
    assert rows[BadPolicy.COLLATERAL_RENAME].broken == 36
    # The one task whose agents may not delete (two triagers) cannot be damaged by a deletion.
    assert rows[BadPolicy.COLLATERAL_DELETE].broken == 35
    assert rows[BadPolicy.DUPLICATE_INSERT].broken == 13
    assert all(row.caught == row.broken for row in table.rows)


async def test_the_room_path_judges_the_same_as_in_process() -> None:
    suite = load_suite(EVALS / "core").only(["board-add-task", "team-thread-moderation", "page-embed-video"])
    policies = (BadPolicy.REFERENCE, BadPolicy.DUPLICATE_INSERT, BadPolicy.ACTS_ON_DECLINE)
    table = await discriminate(suite, policies=policies, in_process=False)
    assert table.ok, table.markdown()
    assert [(row.passed, row.broken) for row in table.rows] == [(3, 0), (1, 2), (2, 1)]


# The hard suite's long documents take a second or more each to build, so `make test` plays the bad
# policies on every task over a small document and on two long ones; `mesh-tools eval discriminate
# evals/hard` plays them on all 84 (docs/evals.md has that table).
LONG_SAMPLE = ["long-roadmap-wip-limit", "long-handbook-add-callout"]


def _small_or_sampled(task: Task) -> bool:
    return (
        task.document_name not in {"roadmap", "catalog", "catalog-xl", "handbook"} or task.id in LONG_SAMPLE
    )


async def test_every_bad_policy_fails_every_hard_task_it_breaks() -> None:
    suite = load_suite(EVALS / "hard")
    sample = replace(suite, tasks=tuple(task for task in suite.tasks if _small_or_sampled(task)))
    table = await discriminate(sample)
    print(table.markdown())
    assert table.ok, table.markdown()
    assert len(sample.tasks) >= 40
    rows = {row.policy: row for row in table.rows}
    assert rows[BadPolicy.REFERENCE].passed == len(sample.tasks)
    assert all(row.broken > 0 for policy, row in rows.items() if policy is not BadPolicy.REFERENCE)
