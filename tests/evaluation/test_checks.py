"""Selectors, restricted predicate expressions and state checks over final documents."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mesh_tools.evaluation._checks import Check, CheckContext, CheckOutcome
from mesh_tools.evaluation._expressions import ExpressionError, compile_predicate
from mesh_tools.evaluation._selectors import SelectorError, parse_selector, select

BOARD: dict[str, Any] = {
    "board": {
        "$id": "root",
        "title": "Launch",
        "columns": [
            {
                "column": {
                    "$id": "c1",
                    "name": "To do",
                    "tasks": [
                        {"task": {"$id": "t1", "title": "Write docs", "points": 3}},
                        {"task": {"$id": "t2", "title": "Fix bug", "done": True}},
                    ],
                }
            },
            {
                "column": {
                    "$id": "c2",
                    "name": "Done",
                    "tasks": [{"task": {"$id": "t3", "title": "Plan", "points": 3.0}}],
                }
            },
        ],
    }
}
CHECKS = TypeAdapter(list[Check])


@pytest.mark.parametrize(
    ("selector", "ids"),
    [
        ("task", ["t1", "t2", "t3"]),
        ("board", ["root"]),
        ("column > task", ["t1", "t2", "t3"]),
        ("board > task", []),
        ("column:nth(1) > task", ["t3"]),
        ("task:first", ["t1"]),
        ("task:last", ["t3"]),
        ("column:first task:nth(1)", ["t2"]),
        # JSON equality: 3 == 3.0, but true is not 1
        ("task[points=3]", ["t1", "t3"]),
        ("task[done=true]", ["t2"]),
        ("task[done=1]", []),
        ("task[done]", ["t2"]),
        ('column[name="To do"] > task:last', ["t2"]),
        ("column[name=To do] task", ["t1", "t2"]),
        ("task[title*=bug]", ["t2"]),
        ("task[title!='Plan']", ["t1", "t2"]),
        ("*[$id=t2]", ["t2"]),
        ("task:nth(7)", []),
    ],
)
def test_selectors_match_in_document_order(selector: str, ids: list[str]) -> None:
    assert [node.id for node in select(BOARD, selector)] == ids


@pytest.mark.parametrize(
    "bad", ["", ">task", "task >", "a > > b", "task:first:last", "[x]", "task[", "task::first"]
)
def test_bad_selectors_are_refused(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(bad)


def test_predicates_see_the_documents_and_helpers() -> None:
    start = {"board": {"title": "Launch", "columns": []}}
    predicate = compile_predicate(
        "count('task') == 3 and first('task')['title'] == 'Write docs' "
        "and all(t['points'] in (None, 3) for t in select('task')) and start['board']['columns'] == []"
    )
    assert predicate.evaluate(BOARD, start) is True
    assert (
        compile_predicate("sum(t.get('points', 0) for t in root.walk()) > 6").evaluate(BOARD, start) is False
    )


@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__bases__",
        "doc.__class__",
        "__import__('os')",
        "(lambda: 1)()",
        "2 ** 2 ** 40",
        "'{0.__globals__}'.format(select)",
        "(x := 1)",
        "import os",
    ],
)
def test_predicates_refuse_escapes(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_predicate(source)


def test_predicates_have_no_builtins_beyond_the_safe_set() -> None:
    for source in ("open('/etc/passwd')", "eval('1')", "getattr(doc, 'keys')"):
        with pytest.raises(ExpressionError, match="NameError"):
            compile_predicate(source).evaluate(BOARD, BOARD)
    with pytest.raises(ExpressionError, match="not True or False"):
        compile_predicate("count('task')").evaluate(BOARD, BOARD)


def evaluate(
    check: dict[str, Any], final: dict[str, Any] = BOARD, start: dict[str, Any] = BOARD, rejected: int = 0
) -> CheckOutcome:
    (parsed,) = CHECKS.validate_python([check])
    return parsed.evaluate(CheckContext(final, start, rejected))


@pytest.mark.parametrize(
    ("check", "passed", "detail"),
    [
        ({"count": "task", "equals": 3}, True, None),
        ({"count": "task", "equals": 2}, False, "found 3"),
        ({"count": "column > task", "min": 1, "max": 3}, True, None),
        ({"count": "task[done=true]", "min": 2}, False, "found 1"),
        ({"attribute": "column:first", "name": "name", "equals": "To do"}, True, None),
        ({"attribute": "task[points]", "name": "points", "equals": 3}, True, None),
        ({"attribute": "task", "name": "points", "equals": 3}, False, "<task> has points unset"),
        ({"attribute": "task:first", "name": "title", "contains": "DOCS"}, True, None),
        ({"attribute": "task:first", "name": "done", "absent": True}, True, None),
        ({"attribute": "task[title=Nope]", "name": "done", "absent": True}, False, "no element matches"),
        ({"children": "column:first", "tags": ["task", "task"]}, True, None),
        ({"children": "column", "tags": ["task"]}, False, "2 elements match, expected exactly one"),
        ({"unchanged": True}, True, None),
        ({"expr": "count('column') == 2"}, True, None),
        ({"expr": "first('nothing')['x'] == 1"}, False, "TypeError: 'NoneType' object is not subscriptable"),
        ({"rejected_writes": 0, "why": "declining writes nothing"}, True, None),
    ],
)
def test_checks_report_what_they_found(check: dict[str, Any], passed: bool, detail: str | None) -> None:
    outcome = evaluate(check)
    assert (outcome.passed, outcome.detail) == (passed, detail)


def test_unchanged_and_rejected_writes_fail_with_their_reason() -> None:
    changed = {"board": {"title": "Launch!", "columns": []}}
    assert evaluate({"unchanged": True}, final=changed).detail == "the document was changed"
    outcome = evaluate({"rejected_writes": 0, "why": "a decline writes nothing"}, rejected=2)
    assert not outcome.passed
    assert outcome.detail == "2 rejected (a decline writes nothing)"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"count": "task >", "equals": 1}, "'>' must stand between two steps"),
        ({"count": "task"}, "needs equals, min or max"),
        ({"count": "task", "equals": 1, "min": 0}, "either equals or min/max"),
        ({"attribute": "task", "name": "done"}, "exactly one of equals, contains, absent"),
        ({"expr": "().__class__"}, "'__class__' is not allowed"),
        ({"bogus": 1}, "a check has one of the keys count, attribute"),
        ({"count": "task", "equals": 1, "extra": True}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_checks_are_refused_when_loaded(check: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CHECKS.validate_python([check])
