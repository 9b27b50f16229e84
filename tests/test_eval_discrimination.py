"""The discrimination self-test: each bad policy fails exactly the tasks it breaks; the reference none."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_tools.evaluation import BadPolicy, discriminate, load_suite

EVALS = Path(__file__).resolve().parent.parent / "evals"


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
