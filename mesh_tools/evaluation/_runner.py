"""Running a suite: every task, ``trials`` times, through the real stack.

Each episode gets its own room on one embedded :class:`~mesh_tools.server.RoomServer` (loopback, a
temporary data directory). The starting document is created in the room first, so its ids are known;
then :func:`~mesh_tools.agent.team.run_team` runs the task's agents, each its own participant with its
own connection, replica and toolkit, and the episode is scored from what the team left behind.

The model decides the backend:

- a model id (``gpt-5.4-mini``): the agents talk to the OpenAI-compatible endpoint of the environment
  (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``);
- ``scripted``: a :class:`~mesh_tools.agent.ScriptedModel` per episode replays each agent's reference
  solution through the real client, loop, toolkit and room; it must score 100%;
- ``faulty``: the same, with the fault model's bad calls injected (``faults.py``).

Any other agent runs through an :class:`~mesh_tools.evaluation.AgentRunner` (``seat.py``): pass
``runner=``, a function of the task and its starting document (with ids) that returns the runner for
that episode. The report then names the runner and says whether it is a model result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from openai import AsyncOpenAI, OpenAIError

from ..agent import (
    SCRIPTED_MODEL_PREFIX,
    ApiName,
    ScriptedModel,
    TeamMember,
    TeamSpec,
    TurnEvent,
    run_team,
    token_minter,
)
from ..client import RoomClient, WebSocketClientProtocol
from ..document import MeshDocument
from ..errors import AgentConfigError, MeshError
from ..helpers import websocket_room_url
from ..server import RoomServer
from ..tools import DocumentToolkit, InMemorySource
from ._episode import EpisodeRecord, EpisodeResult, score_episode
from ._faults import InjectedFault, deleted_selectors, plan_faults
from ._pricing import Price, price_of
from ._reference import ReplayPolicy
from ._report import Backend, RunInfo
from ._seat import AgentRunner, member_runner
from ._suite import Suite, Task, TaskAgent

__all__ = ["EvalConfig", "EvalRun", "RunnerFactory", "run_suite"]

#: Who plays an episode's agents, given its task and starting document (JSON with ids).
RunnerFactory = Callable[[Task, Mapping[str, Any]], AgentRunner]

_OFFLINE: dict[str, Backend] = {"scripted": "scripted", "faulty": "faulty"}


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """How to run a suite."""

    model: str
    """A model id, or ``scripted`` / ``faulty`` for the offline backends."""
    trials: int = 3
    api: ApiName = "responses"
    concurrency: int = 4
    """Episodes run at the same time."""
    temperature: float | None = None
    """Replaces every agent's temperature when set."""
    base_url: str | None = None
    """The OpenAI-compatible endpoint of a model run; None for ``OPENAI_BASE_URL`` or OpenAI's."""
    price: Price | None = None
    """The model's price, when the table (``pricing.py``) does not list it or you pay another rate."""
    in_process: bool = False
    """Play each episode on one in-process document instead of a room (runners only): no sync, no
    convergence to measure, much faster; for self-tests of the suite and the judging."""

    def __post_init__(self) -> None:
        problems = []
        if not self.model:
            problems.append("model must not be empty")
        elif self.model.startswith(SCRIPTED_MODEL_PREFIX):
            # A scripted reply must never be reported as a model result.
            problems.append(f"model {self.model!r} names the scripted server; use --model scripted")
        if self.trials < 1:
            problems.append(f"trials must be at least 1, got {self.trials}")
        if self.api not in ("responses", "chat"):
            problems.append(f"api must be 'responses' or 'chat', got {self.api!r}")
        if self.concurrency < 1:
            problems.append(f"concurrency must be at least 1, got {self.concurrency}")
        if problems:
            raise AgentConfigError("invalid eval settings: " + "; ".join(problems))

    @property
    def backend(self) -> Backend:
        return _OFFLINE.get(self.model, "model")


@dataclass(frozen=True, slots=True)
class EvalRun:
    """A finished run: what it was, its scored episodes in task and trial order, and their records."""

    info: RunInfo
    episodes: tuple[EpisodeResult, ...]
    records: tuple[EpisodeRecord, ...] = ()
    """What each episode left behind, for a recording (``recording.py``); same order as ``episodes``."""


async def run_suite(
    suite: Suite,
    config: EvalConfig,
    *,
    runner: RunnerFactory | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    on_event: Callable[[TurnEvent], None] | None = None,
) -> EvalRun:
    """Run every task of ``suite`` ``config.trials`` times and score each episode.

    With ``runner``, every agent is played by the runner it returns for the episode (``config.model``
    is then only the label); otherwise by our agent loop on ``config.model``. ``on_episode`` sees each
    scored episode and ``on_event`` every agent turn of the loop (for progress displays). Raises
    :class:`~mesh_tools.errors.AgentConfigError` when a model run has no API key.
    """
    if config.in_process and runner is None:
        raise AgentConfigError(
            "in-process episodes need a runner", hint="pass runner=, or leave in_process off"
        )
    started_at = _now()
    client = _model_client(config.base_url) if config.backend == "model" and runner is None else None
    labels: dict[str, bool] = {}
    # In process, each starting document is built once and copied per episode (a long one takes seconds).
    built: dict[int, bytes] = {}
    secret = secrets.token_hex(32)
    gate = asyncio.Semaphore(config.concurrency)
    jobs = [(task, trial) for task in suite.tasks for trial in range(1, config.trials + 1)]

    async def one(task: Task, trial: int) -> tuple[EpisodeRecord, EpisodeResult]:
        async with gate:
            if config.in_process:
                assert runner is not None, "checked by EvalConfig and run_suite"
                record = await _local_episode(task, trial, config, runner, labels, built)
            else:
                record = await _episode(server, secret, task, trial, config, client, runner, labels, on_event)
        episode = score_episode(record)
        if on_episode is not None:
            on_episode(episode)
        return record, episode

    try:
        with tempfile.TemporaryDirectory(prefix="mesh-tools-eval-") as data_dir:
            async with RoomServer(data_dir=data_dir, secret=secret) as server:
                done = await asyncio.gather(*(one(task, trial) for task, trial in jobs))
    finally:
        if client is not None:
            await client.close()
    info = RunInfo(
        suite=suite.name,
        suite_path=str(suite.path),
        backend=config.backend if runner is None else "runner",
        model=config.model if runner is None else ", ".join(sorted(labels)),
        model_result=config.backend == "model" if runner is None else all(labels.values()),
        api=config.api,
        trials=config.trials,
        started_at=started_at,
        finished_at=_now(),
        temperature=config.temperature,
        base_url=str(client.base_url) if client is not None else None,
        mesh_tools_version=version("mesh-tools"),
        price=config.price or price_of(config.model),
    )
    return EvalRun(info, tuple(episode for _, episode in done), tuple(record for record, _ in done))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _model_client(base_url: str | None) -> AsyncOpenAI:
    # An endpoint named explicitly (a local server) needs no key unless it asks for one.
    key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
    try:
        return AsyncOpenAI(max_retries=0, base_url=base_url, api_key=key)
    except OpenAIError as error:
        raise AgentConfigError(
            f"cannot reach a model: {error}",
            hint="set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint), "
            "or run offline with --model scripted or --model faulty",
        ) from error


async def _episode(
    server: RoomServer,
    secret: str,
    task: Task,
    trial: int,
    config: EvalConfig,
    client: AsyncOpenAI | None,
    runner: RunnerFactory | None,
    labels: dict[str, bool],
    on_event: Callable[[TurnEvent], None] | None,
) -> EpisodeRecord:
    room = f"eval-{task.id}-{trial}"
    path = f"{task.id}.{task.schema_name}"
    tokens = token_minter(secret, room)
    toolkit = DocumentToolkit(InMemorySource(task.schema), schema=task.schema, path=path)
    tools = toolkit.responses_tools()
    offered = {agent.name: _offered(agent, toolkit.names) for agent in task.agents}
    started = time.perf_counter()
    start = await _seed(server.url, room, path, task, tokens(f"seed-{task.id}"))
    members, policies, faults = _cast(task, config, path, start, offered)
    if runner is not None:
        played = runner(task, start)
        labels[played.label] = played.model_result
        members = [
            dataclasses.replace(member, model=played.label, runner=member_runner(played))
            for member in members
        ]
        policies = {}
    record = EpisodeRecord(
        task=task, trial=trial, results=(), tools=tools, offered=offered, start=start, final=None
    )
    try:
        result = await run_team(
            TeamSpec(
                url=server.url,
                room=room,
                document_path=path,
                schema=task.schema,
                members=members,
                task=task.instruction,
                tokens=tokens,
                api=config.api,
                client=ScriptedModel(policies, label=config.backend) if policies else client,
                on_event=on_event,
            )
        )
    except MeshError as error:
        return dataclasses.replace(
            record,
            wall_s=time.perf_counter() - started,
            error=f"{error.code}: {error.message}",
            faults=faults,
        )
    failures = [f"{m.agent}: {m.error['code']}: {m.error['message']}" for m in result.members if m.error]
    return dataclasses.replace(
        record,
        results=[m.result for m in result.members if m.result is not None],
        unfinished=[event for m in result.members if m.result is None for event in m.events],
        final=result.document,
        converged=result.convergence.converged,
        replicas=len(result.convergence.replicas),
        violations=[violation.message for violation in result.violations],
        wall_s=time.perf_counter() - started,
        error="; ".join(failures) or None,
        faults=faults,
    )


async def _local_episode(
    task: Task,
    trial: int,
    config: EvalConfig,
    runner: RunnerFactory,
    labels: dict[str, bool],
    built: dict[int, bytes],
) -> EpisodeRecord:
    """An episode on one in-process document that every agent's toolkit edits directly."""
    path = f"{task.id}.{task.schema_name}"
    source = InMemorySource(task.schema)
    update = built.get(id(task.document))
    if update is None:
        update = built[id(task.document)] = MeshDocument.from_json(task.schema, task.document).get_update()
    document = source.documents[path] = MeshDocument(schema=task.schema)
    document.apply_update(update)
    start = document.to_json(include_ids=True)
    kits = [DocumentToolkit(source, schema=task.schema, path=path) for _ in task.agents]
    offered = {agent.name: _offered(agent, kits[0].names) for agent in task.agents}
    members, _, _ = _cast(task, config, path, start, offered)
    played = runner(task, start)
    labels[played.label] = played.model_result
    play = member_runner(played)
    started = time.perf_counter()
    runs = await asyncio.gather(
        *(
            play(member, member.task or task.instruction, kit)
            for member, kit in zip(members, kits, strict=True)
        ),
        return_exceptions=True,
    )
    failures = [
        f"{m.name}: {r.code}: {r.message}"
        for m, r in zip(members, runs, strict=True)
        if isinstance(r, MeshError)
    ]
    unexpected = [r for r in runs if isinstance(r, BaseException) and not isinstance(r, MeshError)]
    if unexpected:
        raise unexpected[0]
    return EpisodeRecord(
        task=task,
        trial=trial,
        results=[r for r in runs if not isinstance(r, BaseException)],
        tools=kits[0].responses_tools(),
        offered=offered,
        start=start,
        final=document.to_json(include_ids=True),
        # One document, no replicas: nothing to converge.
        converged=True,
        replicas=1,
        violations=[violation.message for violation in document.validate()],
        wall_s=time.perf_counter() - started,
        error="; ".join(failures) or None,
    )


def _offered(agent: TaskAgent, names: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in names if name in agent.definition.allowed_tools)


async def _seed(url: str, room: str, path: str, task: Task, token: str) -> dict[str, Any]:
    """Create the starting document in the room and return it as the server holds it, with ids."""
    protocol = WebSocketClientProtocol(url=websocket_room_url(room_name=room, base_url=url), token=token)
    async with RoomClient(protocol=protocol) as seeder:
        await seeder.sync.create(path, json=task.document, schema=task.schema)
        return await seeder.sync.describe(path)


def _cast(
    task: Task, config: EvalConfig, path: str, start: dict[str, Any], offered: dict[str, tuple[str, ...]]
) -> tuple[list[TeamMember], dict[str, ReplayPolicy], list[InjectedFault]]:
    """The team's members and, offline, the policies that play them and the faults they inject."""
    members: list[TeamMember] = []
    policies: dict[str, ReplayPolicy] = {}
    faults: list[InjectedFault] = []
    for agent in task.agents:
        model = config.model if config.backend == "model" else SCRIPTED_MODEL_PREFIX + agent.name
        # The participant's name, not the definition's, goes into the prompt ({agent_name}).
        definition = dataclasses.replace(agent.definition, name=agent.name)
        member = TeamMember.from_definition(
            definition, schema=task.schema, document_path=path, model=model, task=agent.instruction
        )
        if config.temperature is not None:
            member = dataclasses.replace(member, temperature=config.temperature)
        if config.backend == "scripted":
            policies[agent.name] = ReplayPolicy(agent.reference)
        elif config.backend == "faulty":
            others = [
                selector
                for other in task.agents
                if other is not agent
                for selector in deleted_selectors(other.reference)
            ]
            plan = plan_faults(
                agent=agent.name,
                tools=offered[agent.name],
                reference=agent.reference,
                schema=task.schema,
                start=start,
                deleted_by_others=others,
            )
            policies[agent.name] = ReplayPolicy(plan.steps)
            faults.extend(plan.faults)
            member = dataclasses.replace(member, max_turns=member.max_turns + plan.extra_turns)
        members.append(member)
    return members, policies, faults
