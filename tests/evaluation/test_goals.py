"""Whole-state goals: what was missed and what was damaged, on documents edited by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mesh_tools.document import Element, MeshDocument
from mesh_tools.evaluation._goals import GoalChange, GoalOutcome, goal_problems, judge_goal, value_matches
from mesh_tools.schema import MeshSchema

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"
BOARD = MeshSchema.from_file(CORE / "schemas" / "task-board.json")
START = {
    "board": {
        "name": "Relaunch",
        "owner": "dana",
        "columns": [
            {
                "column": {
                    "name": "To do",
                    "tasks": [
                        {"task": {"title": "Copy", "points": 3, "parts": []}},
                        {"task": {"title": "Hosting", "points": 2, "parts": []}},
                    ],
                }
            },
            {
                "column": {
                    "name": "Done",
                    "tasks": [
                        {
                            "task": {
                                "title": "Kick-off",
                                "done": True,
                                "parts": [{"subtask": {"title": "Book room", "done": True}}],
                            }
                        }
                    ],
                }
            },
        ],
    }
}
CHANGES = TypeAdapter(list[GoalChange])


def goal(data: list[dict[str, Any]]) -> list[GoalChange]:
    return CHANGES.validate_python(data)


def by(document: MeshDocument, attribute: str, value: Any) -> Element:
    return next(e for e in document if e.get_attribute(attribute) == value)


def judged(changes: list[dict[str, Any]], edit: Callable[[MeshDocument], None]) -> GoalOutcome:
    document = MeshDocument.from_json(BOARD, START)
    start = document.to_json(include_ids=True)
    edit(document)
    parsed = goal(changes)
    assert goal_problems(parsed, start, BOARD) == []
    return judge_goal(parsed, start, document.to_json(include_ids=True))


SET_POINTS = [{"set": "task[title=Hosting]", "attribute": "points", "value": 5}]


def test_the_asked_change_alone_achieves_the_goal() -> None:
    outcome = judged(SET_POINTS, lambda d: by(d, "title", "Hosting").set_attribute("points", 5))
    assert outcome.achieved and outcome == GoalOutcome((), ())


def test_doing_nothing_misses_and_a_wrong_value_misses() -> None:
    assert judged(SET_POINTS, lambda d: None).missed == ("<task title='Hosting'>.points is 2, expected 5",)
    wrong = judged(SET_POINTS, lambda d: by(d, "title", "Hosting").set_attribute("points", 8))
    assert wrong.missed == ("<task title='Hosting'>.points is 8, expected 5",) and wrong.collateral == ()


def test_setting_an_attribute_that_was_unset_is_checked_even_when_it_stays_unset() -> None:
    # Found by the discrimination self-test: doing nothing passed goals that set an unset attribute.
    due = [{"set": "task[title=Hosting]", "attribute": "due", "value": "2025-07-01"}]
    assert judged(due, lambda d: None).missed == (
        "<task title='Hosting'>.due is unset, expected '2025-07-01'",
    )
    assert judged(due, lambda d: by(d, "title", "Hosting").set_attribute("due", "2025-07-01")).achieved


def test_anything_not_named_is_collateral_damage() -> None:
    def vandal(document: MeshDocument) -> None:
        by(document, "title", "Hosting").set_attribute("points", 5)
        document.root.set_attribute("name", "Renamed")
        by(document, "title", "Copy").remove_attribute("points")
        by(document, "title", "Kick-off").delete()

    outcome = judged(SET_POINTS, vandal)
    assert outcome.missed == ()
    # The subtask went with its task: only the top of a deleted subtree is reported.
    assert outcome.collateral == (
        "deleted <task title='Kick-off'>",
        "<board name='Relaunch'>.name changed from 'Relaunch' to 'Renamed'",
        "<task title='Copy'>.points changed from 3 to unset",
    )


def test_a_duplicate_insert_is_collateral_and_a_missing_one_is_missed() -> None:
    insert = [
        {"insert": "column[name='To do']", "at": -1, "element": {"task": {"title": "Ship", "parts": []}}}
    ]

    def add(times: int) -> Callable[[MeshDocument], None]:
        def edit(document: MeshDocument) -> None:
            for _ in range(times):
                by(document, "name", "To do").append_json({"task": {"title": "Ship", "parts": []}})

        return edit

    assert judged(insert, add(1)).achieved
    twice = judged(insert, add(2))
    assert twice.missed == () and twice.collateral == (
        "inserted <task title='Ship'> under <column name='To do'>",
    )
    assert judged(insert, add(0)).missed == (
        "no <task title='Ship'> inserted at -1 under <column name='To do'>",
    )


def test_positions_matchers_and_unordered_children() -> None:
    spec = {
        "task": {
            "title": {"$matches": "^ship( it)?$"},
            "done": {"$one_of": [False, None]},
            "parts": [{"label": {"name": "x", "color": "red"}}, {"subtask": {"title": "a", "done": False}}],
        }
    }
    element = {
        "task": {
            "title": "Ship it",
            "parts": [{"subtask": {"title": "a", "done": False}}, {"label": {"name": "x", "color": "red"}}],
        }
    }

    def first(document: MeshDocument) -> None:
        by(document, "name", "To do").append_json(element, 0)

    anywhere = [{"insert": "column[name='To do']", "element": spec, "unordered": True}]
    assert judged(anywhere, first).achieved
    # The children are in the other order than the spec lists them; without `unordered` that fails.
    assert not judged([{**anywhere[0], "unordered": False}], first).achieved
    # At the end is not where it went.
    assert judged([{**anywhere[0], "at": -1}], first).missed
    assert judged([{**anywhere[0], "at": 0}], first).achieved


def test_a_deleted_element_takes_its_subtree_and_edits_of_it_are_missed() -> None:
    delete = [{"delete": "task[title=Kick-off]"}]
    assert judged(delete, lambda d: by(d, "title", "Kick-off").delete()).achieved
    column = judged(delete, lambda d: by(d, "name", "Done").delete())
    assert column.collateral == ("deleted <column name='Done'>",) and column.missed == ()
    gone = judged(SET_POINTS, lambda d: by(d, "title", "Hosting").delete())
    assert gone.missed == ("<task title='Hosting'> is gone, so points cannot be 5",)
    assert gone.collateral == ("deleted <task title='Hosting'>",)


def test_an_empty_goal_means_nothing_may_change() -> None:
    assert judged([], lambda d: None).achieved
    assert judged([], lambda d: by(d, "title", "Copy").set_attribute("done", False)).collateral == (
        "<task title='Copy'>.done changed from unset to False",
    )


@pytest.mark.parametrize(
    ("expected", "actual", "present", "matches"),
    [
        (None, None, False, True),
        (None, None, True, False),
        (1, 1.0, True, True),
        (True, 1, True, False),
        ({"$contains": "TUCSON"}, "in Tucson, AZ", True, True),
        ({"$matches": "^a"}, 3, True, False),
        ({"$any": True}, None, False, True),
        ({"$one_of": ["x", None]}, None, False, True),
    ],
)
def test_value_matchers(expected: Any, actual: Any, present: bool, matches: bool) -> None:
    assert value_matches(expected, actual, present) is matches


def test_goals_are_checked_against_the_starting_document() -> None:
    start = MeshDocument.from_json(BOARD, START).to_json()
    problems = goal_problems(
        goal(
            [
                {"set": "task", "attribute": "points", "value": 1},
                {"set": "column:first", "attribute": "colour", "value": 1},
                {"remove": "board", "attribute": "owner"},
                {"remove": "board", "attribute": "owner"},
            ]
        ),
        start,
        BOARD,
    )
    assert problems == [
        "goal[0]: 'task' must match exactly one element of the starting document; it matches 3",
        "goal[1]: <column> has no attribute 'colour'",
        "goal[3]: 'owner' of 'board' is named twice",
    ]
    with pytest.raises(ValidationError, match="a matcher has exactly one key"):
        goal([{"set": "board", "attribute": "name", "value": {"$any": True, "$one_of": [1]}}])
    with pytest.raises(ValidationError, match="not a regular expression"):
        goal([{"set": "board", "attribute": "name", "value": {"$matches": "("}}])
