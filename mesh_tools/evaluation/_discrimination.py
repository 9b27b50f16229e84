"""The discrimination self-test: bad policies must fail every task they break, and the reference none.

A suite whose checks cannot tell a careful agent from a vandal measures nothing. Each bad policy
below is the reference solution spoiled in one way; played on every task (in process, through the
room), each must fail exactly the tasks it breaks, and the reference must pass them all:

======================  =========================================================  =================
policy                  what it does                                               breaks
======================  =========================================================  =================
reference               the reference solution                                     nothing
does_nothing            stops at once                                              tasks with edits
answers_without_acting  reads the document, then claims it made the change         tasks with edits
collateral_rename       the reference, then renames an element the goal leaves     every task
collateral_delete       the reference, then deletes a leaf the goal leaves         every task
duplicate_insert        the reference, then repeats its last insert                tasks with inserts
acts_on_decline         on a task to decline, renames something instead            tasks to decline
======================  =========================================================  =================

The victims of renames and deletions are picked from the starting document (with its ids): elements
the goal neither changes nor deletes, whose text no selector of the task mentions (so the reference's
own reads still find what they look for). Multi-agent tasks spoil one agent, the first allowed the
extra call, except for the two policies that do nothing, which idle the whole team.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..schema import MeshSchema
from ._episode import EpisodeResult
from ._goals import DeleteChange, RemoveChange, SetChange
from ._reference import CallStep, PlayedStep, ReplayPolicy, SayStep, step_calls
from ._runner import EvalConfig, run_suite
from ._runners import ReplayRunner
from ._selectors import Node, select, tree
from ._suite import Suite, Task

__all__ = ["BadPolicy", "Discrimination", "DiscriminationRow", "Sabotage", "discriminate", "sabotage"]

_DESCRIBE = "describe_document"
_CLAIM = "I have made the requested changes."


class BadPolicy(StrEnum):
    """A way of playing a task: the reference, or the reference spoiled."""

    REFERENCE = "reference"
    DOES_NOTHING = "does_nothing"
    ANSWERS_WITHOUT_ACTING = "answers_without_acting"
    COLLATERAL_RENAME = "collateral_rename"
    COLLATERAL_DELETE = "collateral_delete"
    DUPLICATE_INSERT = "duplicate_insert"
    ACTS_ON_DECLINE = "acts_on_decline"


@dataclass(frozen=True, slots=True)
class Sabotage:
    """How a policy plays one task: each agent's steps, and whether that breaks the task."""

    steps: Mapping[str, tuple[PlayedStep, ...]]
    breaks: bool

    def runner(self) -> ReplayRunner:
        return ReplayRunner({name: ReplayPolicy(steps) for name, steps in self.steps.items()})


def sabotage(task: Task, start: Mapping[str, Any], policy: BadPolicy) -> Sabotage:
    """The steps ``policy`` plays on ``task``, whose starting document (with ids) is ``start``."""
    reference = {agent.name: agent.reference for agent in task.agents}
    intact = Sabotage(reference, breaks=False)
    if policy in (BadPolicy.DOES_NOTHING, BadPolicy.ANSWERS_WITHOUT_ACTING):
        if policy is BadPolicy.DOES_NOTHING:
            idle: tuple[PlayedStep, ...] = (SayStep(say="Done."),)
        else:
            idle = (CallStep(call=_DESCRIBE, args={"id": "root", "depth": None}), SayStep(say=_CLAIM))
        return Sabotage(dict.fromkeys(reference, idle), breaks=task.needs_edit)
    extra: CallStep | None = None
    if policy is BadPolicy.DUPLICATE_INSERT:
        inserts = [
            call
            for agent in task.agents
            for step in agent.reference
            for call in step_calls(step)
            if call.call == "append_child"
        ]
        extra = CallStep(call="append_child", args=inserts[-1].args) if inserts else None
    elif policy is BadPolicy.COLLATERAL_RENAME or (
        policy is BadPolicy.ACTS_ON_DECLINE and not task.needs_edit
    ):
        extra = _rename(task, start)
    elif policy is BadPolicy.COLLATERAL_DELETE:
        extra = _delete(task, start)
    # The spoiler is the first agent that may make the extra call (and, for a repeated insert, made it).
    spoiler = next(
        (
            agent
            for agent in task.agents
            if extra is not None
            and extra.call in agent.definition.allowed_tools
            and (
                extra.call != "append_child"
                or any(extra.args == c.args for s in agent.reference for c in step_calls(s))
            )
        ),
        None,
    )
    if extra is None or spoiler is None:
        return intact
    steps = [step for step in spoiler.reference if not isinstance(step, SayStep)]
    return Sabotage({**reference, spoiler.name: (*steps, extra)}, breaks=True)


def _untouched(task: Task, start: Mapping[str, Any]) -> list[Node]:
    """Elements of ``start`` that the goal neither edits nor deletes and no selector of the task names."""
    root = tree(start)
    touched: set[str | None] = set()
    for change in task.goal:
        (node,) = select(root, change.target())
        if isinstance(change, DeleteChange):
            touched.update(sub.id for sub in node.walk())
        elif isinstance(change, SetChange | RemoveChange):
            touched.add(node.id)
    mentioned = json.dumps([agent.reference for agent in task.agents], default=lambda step: repr(step))
    mentioned += json.dumps([change.model_dump() for change in task.goal])
    return [
        node
        for node in root.walk()
        if node is not root
        and node.id not in touched
        and not any(isinstance(value, str) and value in mentioned for value in node.attributes.values())
    ]


def _rename(task: Task, start: Mapping[str, Any]) -> CallStep | None:
    for node in reversed(_untouched(task, start)):
        name = _free_text(task.schema, node)
        if name is not None:
            value = f"{node.attributes[name]} (renamed)"
            return CallStep(
                call="set_attribute", args={"id": node.id, "attribute": {"name": name, "value": value}}
            )
    return None


def _delete(task: Task, start: Mapping[str, Any]) -> CallStep | None:
    leaves = [node for node in _untouched(task, start) if not node.children]
    return CallStep(call="delete_element", args={"id": leaves[-1].id}) if leaves else None


def _free_text(schema: MeshSchema, node: Node) -> str | None:
    """A set text attribute of ``node`` that takes any string."""
    attributes = schema.element(node.tag).attributes
    for name, value in node.attributes.items():
        spec = attributes.get(name)
        if isinstance(value, str) and spec is not None and spec.type == "string" and spec.enum is None:
            return name
    return None


@dataclass(frozen=True, slots=True)
class DiscriminationRow:
    """How one policy fared on the suite."""

    policy: BadPolicy
    tasks: int
    passed: int
    broken: int
    """Tasks the policy breaks."""
    caught: int
    """Broken tasks that failed, as they must."""
    escaped: tuple[str, ...]
    """Broken tasks that passed: the suite cannot see this damage."""
    wrongly_failed: tuple[str, ...]
    """Intact tasks that failed (with why): a goal stricter than the task, or a broken reference."""

    @property
    def ok(self) -> bool:
        return not self.escaped and not self.wrongly_failed


@dataclass(frozen=True, slots=True)
class Discrimination:
    """The discrimination table of a suite."""

    suite: str
    rows: tuple[DiscriminationRow, ...]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def markdown(self) -> str:
        lines = [
            f"Discrimination self-test, suite {self.suite}: each policy played once on every task.",
            "",
            "| policy | tasks passed | tasks it breaks | of those failed | intact tasks failed |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row.policy.value} | {row.passed}/{row.tasks} | {row.broken} | {row.caught}/{row.broken} "
            f"| {len(row.wrongly_failed)} |"
            for row in self.rows
        ]
        for row in self.rows:
            lines += [f"- {row.policy.value}: escaped {task}" for task in row.escaped]
            lines += [f"- {row.policy.value}: wrongly failed {task}" for task in row.wrongly_failed]
        return "\n".join(lines) + "\n"


async def discriminate(
    suite: Suite,
    *,
    policies: Sequence[BadPolicy] = tuple(BadPolicy),
    concurrency: int = 8,
    in_process: bool = True,
) -> Discrimination:
    """Play every policy on every task of ``suite`` once and tabulate what each one's failures were.

    ``in_process`` plays on an in-process document (fast); off, every episode goes through a room.
    """
    rows = []
    for policy in policies:
        cast = _Cast(policy)
        config = EvalConfig(
            model=f"replay-{policy.value}", trials=1, concurrency=concurrency, in_process=in_process
        )
        run = await run_suite(suite, config, runner=cast)
        breaks = cast.breaks
        broken = [episode for episode in run.episodes if breaks[episode.task_id]]
        intact = [episode for episode in run.episodes if not breaks[episode.task_id]]
        rows.append(
            DiscriminationRow(
                policy=policy,
                tasks=len(run.episodes),
                passed=sum(episode.success for episode in run.episodes),
                broken=len(broken),
                caught=sum(not episode.success for episode in broken),
                escaped=tuple(episode.task_id for episode in broken if episode.success),
                wrongly_failed=tuple(
                    f"{episode.task_id} ({_why(episode)})" for episode in intact if not episode.success
                ),
            )
        )
    return Discrimination(suite.name, tuple(rows))


class _Cast:
    """Plays ``policy`` on each episode, and remembers which tasks it breaks."""

    def __init__(self, policy: BadPolicy) -> None:
        self.policy = policy
        self.breaks: dict[str, bool] = {}

    def __call__(self, task: Task, start: Mapping[str, Any]) -> ReplayRunner:
        played = sabotage(task, start, self.policy)
        self.breaks[task.id] = played.breaks
        return played.runner()


def _why(episode: EpisodeResult) -> str:
    if episode.error:
        return str(episode.error)[:200]
    if episode.goal is not None and not episode.goal.achieved:
        return "; ".join((*episode.goal.missed, *episode.goal.collateral))[:200]
    return "; ".join(o.check for o in episode.checks if not o.passed) or "invalid final document"
