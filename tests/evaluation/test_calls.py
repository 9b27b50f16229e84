"""Classifying tool calls, and the fault model: every fault is made against the real toolkit and
must come out of the classifier as its expected outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mesh_tools.evaluation._calls import CallClassifier, CallOutcome
from mesh_tools.evaluation._faults import FaultKind, deleted_selectors, plan_faults, tally_faults
from mesh_tools.evaluation._reference import CallStep, RawStep, SayStep, WaitStep
from mesh_tools.evaluation._suite import load_suite
from mesh_tools.schema import MeshSchema
from mesh_tools.tools import DocumentToolkit, InMemorySource

CORE = Path(__file__).resolve().parents[2] / "evals" / "core"
PATH = "plan.board"


@pytest.fixture(scope="module")
def schema() -> MeshSchema:
    return MeshSchema.from_file(CORE / "schemas" / "task-board.json")


async def toolkit_with_board(schema: MeshSchema) -> tuple[DocumentToolkit, InMemorySource, dict[str, Any]]:
    source = InMemorySource(schema)
    document = await source.open(PATH)
    document.load_json(json.loads((CORE / "documents" / "board.json").read_text()))
    toolkit = DocumentToolkit(source, schema=schema, path=PATH)
    return toolkit, source, document.to_json(include_ids=True)


async def classify(
    toolkit: DocumentToolkit, classifier: CallClassifier, tool: str, arguments: str, agent: str = "a"
) -> CallOutcome:
    result = await toolkit.call(tool, arguments)
    return classifier.classify(agent=agent, turn=1, tool=tool, arguments=arguments, result=result).outcome


async def test_every_fault_is_rejected_and_classified_as_expected(schema: MeshSchema) -> None:
    toolkit, source, start = await toolkit_with_board(schema)
    reference = [CallStep(call="describe_document", args={"id": "root", "depth": None}), SayStep(say="ok")]
    plan = plan_faults(
        agent="a",
        tools=toolkit.names,
        reference=reference,
        schema=schema,
        start=start,
        deleted_by_others=["task[title='Choose hosting']"],
    )
    assert {fault.kind for fault in plan.faults} == set(FaultKind)
    # Faults go right after the first read; the stale one waits for the other agent's delete.
    assert isinstance(plan.steps[1], RawStep)
    assert [type(step) for step in plan.steps[2:]] == [WaitStep, RawStep, SayStep]

    classifier = CallClassifier(toolkit.responses_tools(), known_ids=_ids(start))
    stale = next(fault for fault in plan.faults if fault.kind is FaultKind.STALE_ID)
    stale_id = json.loads(stale.call.arguments_json())["id"]
    (await source.open(PATH)).element_by_id(stale_id).delete()  # the other agent's delete
    calls = []
    for fault in plan.faults:
        arguments = fault.call.arguments_json()
        result = await toolkit.call(fault.call.name, arguments)
        calls.append(
            classifier.classify(agent="a", turn=1, tool=fault.call.name, arguments=arguments, result=result)
        )
    for fault, call in zip(plan.faults, calls, strict=True):
        assert not call.ok, fault.kind
        assert call.outcome is fault.kind.expected, (fault.kind, call.result)
        assert call.consistent
    tallies = tally_faults(plan.faults, calls)
    assert all(t.injected == t.detected == t.classified == 1 for t in tallies)
    assert len(tallies) == len(FaultKind)


async def test_tally_reports_a_fault_that_was_never_made(schema: MeshSchema) -> None:
    toolkit, _, start = await toolkit_with_board(schema)
    plan = plan_faults(agent="a", tools=toolkit.names, reference=[], schema=schema, start=start)
    tallies = tally_faults(plan.faults, [])
    assert all(t.classified == 0 and t.misclassified == ("a: never made",) for t in tallies)


async def test_faults_only_use_the_tools_an_agent_has(schema: MeshSchema) -> None:
    _, _, start = await toolkit_with_board(schema)
    plan = plan_faults(
        agent="reader", tools=["describe_document", "set_attribute"], reference=[], schema=schema, start=start
    )
    kinds = {fault.kind for fault in plan.faults}
    assert kinds == {
        FaultKind.MALFORMED_JSON,
        FaultKind.UNKNOWN_TOOL,
        FaultKind.INVENTED_ID,
        FaultKind.WRONG_TYPE,
    }
    assert {fault.call.name for fault in plan.faults} <= {"set_attribute", "insert_element"}


async def test_classifier_tells_invented_from_stale_ids(schema: MeshSchema) -> None:
    toolkit, source, start = await toolkit_with_board(schema)
    classifier = CallClassifier(toolkit.responses_tools(), known_ids=_ids(start))
    task_id = next(i for i in _ids(start) if i != "root")
    (await source.open(PATH)).element_by_id(task_id).delete()
    assert (
        await classify(toolkit, classifier, "delete_element", json.dumps({"id": task_id}))
        is CallOutcome.STALE_ID
    )
    assert (
        await classify(toolkit, classifier, "delete_element", '{"id": "abcdefgh"}') is CallOutcome.INVENTED_ID
    )
    # An id the agent invented stays invented the second time it is used.
    assert (
        await classify(toolkit, classifier, "delete_element", '{"id": "abcdefgh"}') is CallOutcome.INVENTED_ID
    )


async def test_ids_created_in_the_episode_count_as_seen(schema: MeshSchema) -> None:
    toolkit, _, _ = await toolkit_with_board(schema)
    classifier = CallClassifier(toolkit.responses_tools())
    column = {"$tag": "column", "name": "Review", "wip_limit": None, "tasks": []}
    arguments = json.dumps({"parent_id": "root", "position": None, "element": column})
    result = await toolkit.call("append_child", arguments)
    created = classifier.classify(agent="a", turn=1, tool="append_child", arguments=arguments, result=result)
    assert created.ok and created.created_ids == (json.loads(result)["id"],)
    delete = json.dumps({"id": created.created_ids[0]})
    assert await classify(toolkit, classifier, "delete_element", delete) is CallOutcome.OK
    assert await classify(toolkit, classifier, "delete_element", delete) is CallOutcome.STALE_ID


async def test_ids_a_batch_created_count_as_seen_and_batches_are_writes(schema: MeshSchema) -> None:
    toolkit, _, _ = await toolkit_with_board(schema)
    classifier = CallClassifier(toolkit.responses_tools())
    column = {"$tag": "column", "name": "Review", "wip_limit": None}
    edits = [{"op": "insert", "parent": "root", "position": None, "ref": "c", "element": column}]
    arguments = json.dumps({"edits": edits, "if_unchanged_since": None})
    result = await toolkit.call("apply_edits", arguments)
    batch = classifier.classify(agent="a", turn=1, tool="apply_edits", arguments=arguments, result=result)
    assert batch.ok and batch.write and batch.created_ids == (json.loads(result)["refs"]["c"],)
    delete = json.dumps({"id": batch.created_ids[0]})
    assert await classify(toolkit, classifier, "delete_element", delete) is CallOutcome.OK
    assert await classify(toolkit, classifier, "delete_element", delete) is CallOutcome.STALE_ID


async def test_a_tool_the_agent_was_not_offered_is_unknown_to_it(schema: MeshSchema) -> None:
    toolkit, _, _ = await toolkit_with_board(schema)
    classifier = CallClassifier(toolkit.responses_tools(), offered={"reader": ["describe_document"]})
    call = classifier.classify(
        agent="reader",
        turn=1,
        tool="delete_element",
        arguments='{"id": "root"}',
        result='{"ok":false,"error":{"code":"forbidden","message":"not available"}}',
    )
    assert call.outcome is CallOutcome.UNKNOWN_TOOL and call.write


@pytest.mark.parametrize(
    ("tool", "arguments", "outcome"),
    [
        ("describe_document", "", CallOutcome.TOOL_SCHEMA),  # "" reads as {}: the required id is missing
        ("describe_document", '{"id": "root", "depth": NaN}', CallOutcome.MALFORMED_ARGUMENTS),
        (
            "set_attribute",
            '{"id": "root", "attribute": {"name": "points", "value": "3"}}',
            CallOutcome.TOOL_SCHEMA,
        ),
        (
            "set_attribute",
            '{"id": "root", "attribute": {"name": "points", "value": 3}}',
            CallOutcome.DOCUMENT_SCHEMA,
        ),
        (
            "append_child",
            '{"parent_id": "root", "position": 9, "element": {"$tag": "column", "name": null, '
            '"wip_limit": null, "tasks": []}}',
            CallOutcome.DOCUMENT_SCHEMA,
        ),
        ("delete_element", '{"id": "root"}', CallOutcome.DOCUMENT_SCHEMA),
    ],
)
async def test_stages_of_real_toolkit_rejections(
    schema: MeshSchema, tool: str, arguments: str, outcome: CallOutcome
) -> None:
    toolkit, _, start = await toolkit_with_board(schema)
    classifier = CallClassifier(toolkit.responses_tools(), known_ids=_ids(start))
    assert await classify(toolkit, classifier, tool, arguments) is outcome


def test_a_toolkit_that_accepts_a_call_outside_its_schema_is_flagged(schema: MeshSchema) -> None:
    toolkit = DocumentToolkit(InMemorySource(schema), schema=schema, path=PATH)
    classifier = CallClassifier(toolkit.responses_tools())
    call = classifier.classify(
        agent="a", turn=1, tool="delete_element", arguments='{"id": 7}', result='{"ok": true, "deleted": 1}'
    )
    assert call.outcome is CallOutcome.TOOL_SCHEMA
    assert not call.consistent and call.note is not None


def test_deleted_selectors_come_from_delete_calls_only() -> None:
    suite = load_suite(CORE)
    triage = next(task for task in suite.tasks if task.id == "team-board-triage")
    cleaner, planner = triage.agents
    assert deleted_selectors(cleaner.reference) == [
        "task[title='Kick-off meeting']",
        "task[title='Collect requirements']",
    ]
    assert deleted_selectors(planner.reference) == []


def _ids(document: dict[str, Any]) -> list[str]:
    found = []
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found += [value for key, value in item.items() if key == "$id"]
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return found
