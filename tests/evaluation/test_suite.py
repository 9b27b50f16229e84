"""Loading eval suites: the shipped suite's coverage, and errors that name the file and the field."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from mesh_tools.evaluation._errors import SuiteError
from mesh_tools.evaluation._reference import ParallelStep, SayStep, WaitStep, step_calls
from mesh_tools.evaluation._selectors import tree
from mesh_tools.evaluation._suite import CATEGORIES, load_suite

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"

SUITE_YAML = """\
name: mini
description: A small suite for loader tests.
schemas: {board: board.json}
documents: {board: board-doc.json}
agent_files: [agents/editor.toml]
agents:
  - name: reader
    description: Only reads.
    allowed_tools: [describe_document]
    prompt: "You are {agent_name}. {schema_summary}"
"""

GOOD_TASK = """\
  - id: add-task
    category: create
    schema: board
    document: board
    instruction: Add a task.
    agents:
      - agent: editor
        reference:
          - {call: describe_document, args: {id: root, depth: null}}
          - call: append_child
            args:
              parent_id: {$select: "column:first"}
              position: null
              element:
                {$tag: task, title: T, points: null, priority: null, done: null, assignee: null, due: null,
                 parts: []}
            as: new
          - call: set_attribute
            args: {id: {$result: new}, attribute: {name: done, value: true}}
    goal:
      - insert: "column:first"
        at: -1
        element: {task: {title: T, done: true, parts: []}}
    checks:
      - count: task
        min: 1
"""


def make_suite(tmp_path: Path, tasks: str, suite_yaml: str = SUITE_YAML) -> Path:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "agents").mkdir()
    (tmp_path / "prompts").mkdir()
    shutil.copy(CORE / "schemas" / "task-board.json", tmp_path / "board.json")
    shutil.copy(CORE / "documents" / "board.json", tmp_path / "board-doc.json")
    shutil.copy(CORE / "agents" / "editor.toml", tmp_path / "agents" / "editor.toml")
    shutil.copy(CORE / "prompts" / "editor.md", tmp_path / "prompts" / "editor.md")
    (tmp_path / "suite.yaml").write_text(suite_yaml)
    (tmp_path / "tasks" / "main.yaml").write_text("tasks:\n" + tasks)
    return tmp_path


def test_the_core_suite_covers_the_basic_categories_on_three_schemas() -> None:
    suite = load_suite(CORE)
    assert len(suite.tasks) >= 24
    assert len(suite.schemas) >= 3
    categories = Counter(task.category for task in suite.tasks)
    assert set(categories) == set(CATEGORIES[:7])
    assert all(count >= 3 for count in categories.values()), categories
    assert {task.schema_name for task in suite.tasks} == set(suite.schemas)
    for task in suite.tasks:
        assert task.multi_agent == (task.category == "multi_agent")
        # A request to decline has an empty goal: nothing may change; every other task changes something.
        assert task.needs_edit == (task.category != "impossible"), task.id
    # Some agent must wait for another's edit, and some reference must make parallel calls.
    steps = [step for task in suite.tasks for agent in task.agents for step in agent.reference]
    assert any(isinstance(step, WaitStep) for step in steps)
    assert any(isinstance(step, ParallelStep) for step in steps)
    assert any(isinstance(step, SayStep) for step in steps)
    # References name earlier results and elements of the starting document.
    arguments = json.dumps([call.args for step in steps for call in step_calls(step)])
    assert '"$result"' in arguments and '"$select"' in arguments


def test_a_good_suite_loads_with_inline_and_file_agents(tmp_path: Path) -> None:
    suite = load_suite(make_suite(tmp_path, GOOD_TASK))
    (task,) = suite.tasks
    assert task.agents[0].definition.source == tmp_path / "agents" / "editor.toml"
    assert task.agents[0].instruction == "Add a task."
    assert task.start["board"]["name"] == "Website relaunch"
    assert "$id" not in str(task.start)
    assert suite.only(["add-*"]).tasks == suite.tasks
    with pytest.raises(SuiteError, match="no task of suite 'mini' matches nope"):
        suite.only(["nope"])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "schema: board",
            "schema: boards",
            r"tasks\[0\] \(add-task\): field 'schema': unknown schema 'boards'",
        ),
        (
            "document: board",
            "document: {board: {name: 7}}",
            r"field 'document': not a valid 'board' document",
        ),
        (
            "category: create",
            "category: creation",
            r"tasks\[0\] \(add-task\): field 'category': Input should be",
        ),
        ("category: create", "category: multi_agent", "several agents exactly when its category is one of"),
        (
            'insert: "column:first"',
            'insert: "column"',
            r"field 'goal': goal\[0\]: 'column' must match exactly one element of the starting document; "
            "it matches 3",
        ),
        ("done: true, parts", "finished: true, parts", r"goal\[0\]: <task> has no attribute 'finished'"),
        ("{task: {title: T", "{column: {title: T", r"goal\[0\]: <column> does not take <column> children"),
        ("done: true, parts", "done: {$one_of: []}, parts", r"\$one_of takes a non-empty list"),
        ("    goal:\n", "    goals:\n", "Extra inputs are not permitted"),
        ("agent: editor", "agent: writer", r"field 'agents\[0\].agent': unknown agent 'writer'"),
        ("agent: editor", "agent: reader", "tool 'append_child' is not allowed for this agent"),
        ("{$result: new}", "{$result: old}", r"reference\[2\]: \$result 'old' names no earlier call"),
        (
            "{call: describe_document, args: {id: root, depth: null}}",
            "{say: hi}",
            "say must be the last step",
        ),
        ('{$select: "column:first"}', '{$select: "column >"}', "must stand between two steps"),
        (
            "count: task\n        min: 1",
            "count: task",
            r"field 'checks.0.count': Value error, a count check needs",
        ),
        ("count: task", "cuont: task", "a check has one of the keys"),
        ("- {call: describe_document", "- {cal: describe_document", "a reference step has one of the keys"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD_TASK
    make_suite(tmp_path, GOOD_TASK.replace(old, new))
    with pytest.raises(SuiteError, match=message) as caught:
        load_suite(tmp_path)
    assert str(tmp_path / "tasks" / "main.yaml") in caught.value.message


def test_select_before_any_read_is_refused(tmp_path: Path) -> None:
    task = GOOD_TASK.replace("          - {call: describe_document, args: {id: root, depth: null}}\n", "")
    make_suite(tmp_path, task)
    with pytest.raises(SuiteError, match=r"\$select 'column:first' before any describe_document"):
        load_suite(tmp_path)


def test_duplicate_task_ids_across_files_are_refused(tmp_path: Path) -> None:
    make_suite(tmp_path, GOOD_TASK)
    (tmp_path / "tasks" / "more.yaml").write_text("tasks:\n" + GOOD_TASK)
    with pytest.raises(
        SuiteError, match=r"more.yaml: tasks\[0\] \(add-task\): field 'id': task 'add-task' is already"
    ):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "board: board.json}",
            "board: missing.json}",
            r"suite.yaml: field 'schemas.board': cannot read schema file",
        ),
        ("agents/editor.toml", "agents/nobody.toml", r"field 'agent_files\[0\]': .*cannot read"),
        (
            "[describe_document]",
            "[describe_document, fly]",
            r"field 'agents\[0\].allowed_tools': unknown tool",
        ),
        (
            '"You are {agent_name}. {schema_summary}"',
            '"You are {name}."',
            r"field 'agents\[0\].prompt': .*\{name\}",
        ),
        ("name: mini", "name: Mini Suite", "field 'name': String should match pattern"),
    ],
)
def test_suite_file_errors_name_the_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SUITE_YAML
    make_suite(tmp_path, GOOD_TASK, SUITE_YAML.replace(old, new))
    with pytest.raises(SuiteError, match=message):
        load_suite(tmp_path)


def test_yaml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    make_suite(tmp_path, GOOD_TASK + "  - {broken: [\n")
    with pytest.raises(SuiteError, match=r"main.yaml: not valid YAML"):
        load_suite(tmp_path)


def test_the_hard_suite_has_80_tasks_over_four_schemas_and_ten_per_category() -> None:
    suite = load_suite(CORE.parent / "hard")
    assert len(suite.tasks) >= 80
    assert len({task.schema_name for task in suite.tasks}) >= 4
    categories = Counter(task.category for task in suite.tasks)
    assert set(categories) == set(CATEGORIES[7:])
    assert all(count >= 10 for count in categories.values()), categories
    for task in suite.tasks:
        assert task.multi_agent == (task.category == "conflict"), task.id
        # Relevance tasks are met already or cannot be expressed: nothing may change.
        assert task.needs_edit == (task.category != "relevance"), task.id
    # Long documents are built by code, between 500 and 5,000 elements.
    sizes = {
        task.document_name: sum(1 for _ in tree(task.start).walk())
        for task in suite.tasks
        if task.category == "long"
    }
    assert all(500 <= size <= 5000 for size in sizes.values()), sizes
    assert max(sizes.values()) > 4000
    assert not any((CORE.parent / "hard" / "documents" / f"{name}.json").exists() for name in sizes)
    # Recovery references make a write that is then made again, fixed.
    for task in suite.tasks:
        if task.category == "recovery":
            steps = task.agents[0].reference
            calls = [call.call for step in steps for call in step_calls(step)]
            writes = [name for name in calls if name != "describe_document"]
            assert len(writes) == 2 and writes[0] == writes[1], task.id
