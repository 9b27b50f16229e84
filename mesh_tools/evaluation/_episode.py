"""Scoring one episode (one trial of one task) from what the run recorded.

The runner hands over an :class:`EpisodeRecord`: the agents' results, the tools they were offered,
the starting and final documents with ids, whether the replicas converged and the final document's
schema violations. :func:`score_episode` turns it into an :class:`EpisodeResult`: the classified calls,
the state checks, success, validity, recovery and, with several agents, the multi-agent measures.

An episode succeeds when it ran to the end without an error, the final document is valid, it is the
task's goal (the starting document with exactly the changes asked for, ``goals.py``) and every further
check holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..agent import AgentResult, StopReason, TurnEvent, Usage
from ..schema import ID_ATTRIBUTE
from ._calls import CallClassifier, ClassifiedCall
from ._checks import CheckContext, CheckOutcome
from ._faults import InjectedFault
from ._goals import GoalOutcome, judge_goal
from ._multi_agent import MultiAgentStats, measure_multi_agent
from ._report_data import EpisodeData, RecoveryData
from ._selectors import tree
from ._suite import Task

__all__ = ["EpisodeRecord", "EpisodeResult", "Recovery", "score_episode", "strip_ids"]


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """Everything a finished (or failed) episode left behind."""

    task: Task
    trial: int
    results: Sequence[AgentResult]
    """One per agent that finished; fewer when the episode failed."""
    tools: Sequence[Mapping[str, Any]]
    """The toolkit's tool definitions (Responses shape), for classifying calls."""
    offered: Mapping[str, Sequence[str]]
    """The tool names each agent was offered."""
    start: Mapping[str, Any]
    """The starting document as seeded in the room, with ids."""
    final: Mapping[str, Any] | None
    """The final document as the room server holds it, with ids; None when the run failed early."""
    unfinished: Sequence[TurnEvent] = ()
    """The turns of agents whose run failed (a model API error), which have no result."""
    converged: bool | None = None
    """Whether every replica ended equal to the server's copy; None when the run failed early."""
    replicas: int = 0
    violations: Sequence[str] = ()
    """Schema violations of the final document (``MeshDocument.validate``)."""
    wall_s: float = 0.0
    error: str | None = None
    """Why the episode could not run to the end (a model or room failure), if it did not."""
    faults: Sequence[InjectedFault] = ()


@dataclass(frozen=True, slots=True)
class Recovery:
    """Rejected edits of an episode and whether the agent went on to make a valid one."""

    rejected: int
    recovered: int
    attempts: tuple[int, ...]
    """For each recovered edit, the write calls it took up to and including the accepted one."""

    def to_dict(self) -> RecoveryData:
        return {"rejected": self.rejected, "recovered": self.recovered, "attempts": list(self.attempts)}


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    """One scored episode."""

    task_id: str
    category: str
    trial: int
    success: bool
    checks: tuple[CheckOutcome, ...]
    valid: bool
    violations: tuple[str, ...]
    calls: tuple[ClassifiedCall, ...]
    turns: int
    usage: Usage
    model_latencies_s: tuple[float, ...]
    """How long each model call took (retries included); empty for agents run by an AgentRunner."""
    wall_s: float
    stop_reasons: Mapping[str, str]
    recovery: Recovery
    goal: GoalOutcome | None
    """Changes missed and collateral damage; None when there is no final document."""
    needs_edit: bool
    """Whether the task's goal changes the document (False: decline, or nothing to do)."""
    attempted_write: bool
    """Whether any agent attempted a write (accepted or not)."""
    multi_agent: MultiAgentStats | None
    error: str | None
    faults: tuple[InjectedFault, ...] = field(default=())

    @property
    def abstained(self) -> bool | None:
        """On a task that needs no edit: no write was attempted at all. None on other tasks, and when
        the episode failed to run (a model error is not a choice to abstain)."""
        return None if self.needs_edit or self.error is not None else not self.attempted_write

    @property
    def over_refused(self) -> bool | None:
        """On a task that needs an edit: no write was attempted at all. None on other tasks, and when
        the episode failed to run."""
        return not self.attempted_write if self.needs_edit and self.error is None else None

    @property
    def collateral(self) -> tuple[str, ...]:
        return () if self.goal is None else self.goal.collateral

    @property
    def max_turns_hit(self) -> bool:
        return StopReason.MAX_TURNS.value in self.stop_reasons.values()

    def to_dict(self) -> EpisodeData:
        return {
            "task": self.task_id,
            "category": self.category,
            "trial": self.trial,
            "success": self.success,
            "valid": self.valid,
            "violations": list(self.violations),
            "checks": [outcome.to_dict() for outcome in self.checks],
            "turns": self.turns,
            "tool_calls": len(self.calls),
            "tokens": {
                "input": self.usage.input_tokens,
                "cached_input": self.usage.cached_input_tokens,
                "output": self.usage.output_tokens,
                "total": self.usage.total_tokens,
            },
            "model_latencies_s": [round(latency, 4) for latency in self.model_latencies_s],
            "wall_s": round(self.wall_s, 4),
            "stop_reasons": dict(self.stop_reasons),
            "recovery": self.recovery.to_dict(),
            "goal": None
            if self.goal is None
            else {"missed": list(self.goal.missed), "collateral": list(self.goal.collateral)},
            "needs_edit": self.needs_edit,
            "attempted_write": self.attempted_write,
            "multi_agent": None if self.multi_agent is None else self.multi_agent.to_dict(),
            "error": self.error,
            "calls": [call.to_dict() for call in self.calls],
        }


def strip_ids(document: Mapping[str, Any]) -> dict[str, Any]:
    """Document JSON without ``$id`` keys: what checks compare."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: strip(sub) for key, sub in value.items() if key != ID_ATTRIBUTE}
        if isinstance(value, list):
            return [strip(sub) for sub in value]
        return value

    return dict(strip(document))


def score_episode(record: EpisodeRecord) -> EpisodeResult:
    """Classify the calls, run the checks and compute the episode's measures."""
    task = record.task
    start_root = tree(record.start)
    start_ids = [node.id for node in start_root.walk() if node.id is not None]
    classifier = CallClassifier(record.tools, offered=record.offered, known_ids=start_ids)
    events = [event for result in record.results for event in result.events] + list(record.unfinished)
    made = [(event.agent, event.turn, call) for event in events for call in event.tool_calls]
    # Time order across agents: whether an id was seen before depends on what happened first.
    made.sort(key=lambda item: item[2].started_at)
    calls = tuple(
        classifier.classify(
            agent=agent,
            turn=turn,
            tool=call.name,
            arguments=call.arguments,
            result=call.result,
            started_at=call.started_at,
            duration_s=call.duration_s,
        )
        for agent, turn, call in made
    )
    rejected_writes = sum(1 for call in calls if call.write and not call.ok)
    outcomes: tuple[CheckOutcome, ...] = ()
    goal = None
    if record.final is not None:
        if task.checks:
            context = CheckContext(strip_ids(record.final), task.start, rejected_writes)
            outcomes = tuple(check.evaluate(context) for check in task.checks)
        goal = judge_goal(task.goal, start_root, record.final)
    valid = record.final is not None and not record.violations
    success = (
        record.error is None
        and valid
        and goal is not None
        and goal.achieved
        and all(outcome.passed for outcome in outcomes)
    )
    usage = sum((event.usage for event in events), Usage())
    multi = None
    if task.multi_agent and record.final is not None and record.converged is not None:
        multi = measure_multi_agent(
            calls,
            start=record.start,
            final=record.final,
            converged=record.converged,
            replicas=record.replicas,
        )
    return EpisodeResult(
        task_id=task.id,
        category=task.category,
        trial=record.trial,
        success=success,
        checks=outcomes,
        valid=valid,
        violations=tuple(record.violations),
        calls=calls,
        turns=len(events),
        usage=usage,
        model_latencies_s=tuple(event.duration_s for event in events if event.api != "runner"),
        wall_s=record.wall_s,
        stop_reasons={result.agent: result.stop_reason.value for result in record.results},
        recovery=_recovery(calls) if task.needs_edit else Recovery(0, 0, ()),
        goal=goal,
        needs_edit=task.needs_edit,
        attempted_write=any(call.write for call in calls),
        multi_agent=multi,
        error=record.error,
        faults=tuple(record.faults),
    )


def _recovery(calls: Sequence[ClassifiedCall]) -> Recovery:
    """For each rejected write, the write calls by the same agent until one is accepted."""
    rejected = recovered = 0
    attempts: list[int] = []
    for index, call in enumerate(calls):
        if not call.write or call.ok:
            continue
        rejected += 1
        later = [c for c in calls[index + 1 :] if c.agent == call.agent and c.write]
        taken = next((n for n, c in enumerate(later, start=1) if c.ok), None)
        if taken is not None:
            recovered += 1
            attempts.append(taken)
    return Recovery(rejected, recovered, tuple(attempts))
