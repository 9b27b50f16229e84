"""A team: several agents editing one document of a room at the same time, each its own participant.

:func:`run_team` connects every member with its own token and WebSocket connection, gives each one a
:class:`~mesh_tools.tools.DocumentToolkit` bound to the document (only the tools its role allows), runs
all the agent loops concurrently, and then checks the outcome: every replica must end up identical to
the server's copy, and the final document must be valid against its schema. The same call runs a
single agent (a team of one), so evaluations use it for both::

    result = await run_team(
        TeamSpec(
            url=server.url, room="demo", document_path="plans/launch.report", schema=schema,
            members=[TeamMember.from_definition(d, schema=schema, document_path=path) for d in defs],
            task="Write the launch plan.", tokens=token_minter(SECRET, "demo"),
        )
    )
    result.valid, result.convergence.converged, result.document, result.members[0].result
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from openai import AsyncOpenAI

from ..client import RoomClient, WebSocketClientProtocol
from ..document import MeshDocument, Violation
from ..errors import AgentConfigError, DocumentExistsError, InvalidOperationError, MeshError
from ..helpers import websocket_room_url
from ..schema import MeshSchema
from ..tokens import DEFAULT_TTL, ParticipantToken
from ..tools import WRITE_TOOLS, DocumentToolkit, LimitedToolkit, Toolkit, schema_summary
from ._agents_sdk_seat import run_agents_sdk
from ._definition import AgentDefinition
from ._events import AgentResult, EventCallback, TurnEvent
from ._loop import AgentLoop
from ._retry import RetryPolicy
from ._scripted_model import ScriptedModel
from ._transcript import ApiName

__all__ = [
    "Convergence",
    "MemberResult",
    "MemberRunner",
    "TeamMember",
    "TeamResult",
    "TeamSpec",
    "TokenFactory",
    "run_team",
    "token_minter",
]

#: Gives the token a participant connects with, from the participant's name.
TokenFactory = Callable[[str], str]

#: Runs a member in place of the agent loop (evals plug in other agents this way): given the member,
#: its task and its participant's toolkit (the member offers only ``allowed_tools`` of it), it returns
#: the run's record.
MemberRunner = Callable[["TeamMember", str, DocumentToolkit], Awaitable[AgentResult]]

_SETTLE_POLL_S = 0.02


def token_minter(
    secret: str, room: str, *, key_id: str | None = None, ttl: timedelta = DEFAULT_TTL
) -> TokenFactory:
    """Mint agent tokens for ``room`` signed with the server's ``secret`` (and ``key_id``, if it has several).

    Each token grants the room, the ``agent`` role and read-write access to every document.
    """

    def mint(participant: str) -> str:
        token = ParticipantToken.for_room(name=participant, room=room, api_key_id=key_id)
        return token.to_jwt(token=secret, expiration=ttl)

    return mint


@dataclass(frozen=True, slots=True)
class TeamMember:
    """One agent of a team; its name is also its participant name in the room."""

    name: str
    instructions: str
    model: str
    allowed_tools: tuple[str, ...] | None = None
    """The tools it may call; None for every tool of the document toolkit."""
    max_turns: int = 20
    temperature: float | None = None
    task: str | None = None
    """What this member is asked to do; None for the team's task."""
    runner: MemberRunner | None = field(default=None, compare=False, repr=False)
    """Runs this member instead of an :class:`AgentLoop` over ``model``; None for the loop."""
    sdk_agent: Any = field(default=None, compare=False, repr=False)
    """An openai-agents ``Agent`` seated instead of our loop, with the member's tools added; one
    without a model runs ``model`` on the team's client (see :func:`agents_sdk_agent`)."""

    @classmethod
    def from_definition(
        cls,
        definition: AgentDefinition,
        *,
        schema: MeshSchema,
        document_path: str,
        model: str | None = None,
        task: str | None = None,
    ) -> TeamMember:
        """A member from an agent definition, its prompt filled in for this document and schema.

        ``model`` replaces the definition's model (``scripted:<name>`` for a :class:`ScriptedModel`).
        """
        return cls(
            name=definition.name,
            instructions=definition.instructions(
                schema_summary=schema_summary(schema), document_path=document_path
            ),
            model=model or definition.model,
            allowed_tools=definition.allowed_tools,
            max_turns=definition.max_turns,
            temperature=definition.temperature,
            task=task,
        )


@dataclass(frozen=True, slots=True)
class TeamSpec:
    """Everything a team run needs: where, on what, who, and with which model settings.

    The document is created with ``schema`` (and ``initial_json``) when it does not exist; an existing
    document must have ``schema`` and is then worked on as it is. ``client`` serves every member's
    model calls: an ``AsyncOpenAI`` client, a :class:`ScriptedModel` (offline; the run is then marked
    scripted), or None (each member builds a client from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``).
    ``token_budget`` applies to each member separately.
    """

    url: str
    """The room server's base URL, ``ws://HOST:PORT``."""
    room: str
    document_path: str
    schema: MeshSchema
    members: Sequence[TeamMember]
    task: str
    tokens: TokenFactory
    initial_json: Mapping[str, Any] | None = None
    api: ApiName = "responses"
    client: AsyncOpenAI | ScriptedModel | None = field(default=None, repr=False)
    on_event: EventCallback | None = field(default=None, repr=False)
    token_budget: int | None = None
    parallel_tool_calls: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observer: str = "observer"
    """Participant name of the connection that creates, watches and finally reads the document."""
    settle_timeout_s: float = 10.0
    """How long to wait after the run for every replica to match the server's copy."""
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        names = [member.name for member in self.members]
        problems = []
        if not names:
            problems.append("a team needs at least one member")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems.append(f"member names must be unique; repeated: {', '.join(duplicates)}")
        if self.observer in names:
            problems.append(f"the observer's name {self.observer!r} is also a member's name")
        if problems:
            raise AgentConfigError(
                "invalid team: " + "; ".join(problems), hint="each member is its own participant in the room"
            )


@dataclass(frozen=True, slots=True)
class MemberResult:
    """How one member's run went: its full record, or the error that ended it early."""

    agent: str
    model: str
    result: AgentResult | None
    """None when the run failed; ``error`` then says why."""
    error: dict[str, str] | None = None
    """The error (``code``, ``message``, ``hint``) that ended the run, such as a model API failure."""
    failed_events: tuple[TurnEvent, ...] = ()
    """The turns completed before ``error``; empty when the run ended normally (see ``result``)."""

    @property
    def events(self) -> tuple[TurnEvent, ...]:
        """Every completed turn of the run, whether or not it failed."""
        return self.result.events if self.result is not None else self.failed_events

    @property
    def tool_calls(self) -> int:
        return sum(len(event.tool_calls) for event in self.events)

    @property
    def rejected_calls(self) -> int:
        """Tool calls whose result was an error."""
        return sum(not call.ok for event in self.events for call in event.tool_calls)

    @property
    def edits(self) -> int:
        """Successful calls of the tools that change the document."""
        return sum(call.ok and call.name in WRITE_TOOLS for event in self.events for call in event.tool_calls)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data, with the counts."""
        data = dataclasses.asdict(self)
        data.update(tool_calls=self.tool_calls, rejected_calls=self.rejected_calls, edits=self.edits)
        return data


@dataclass(frozen=True, slots=True)
class Convergence:
    """Whether every replica ended identical to the server's copy (document JSON with ids)."""

    converged: bool
    replicas: tuple[str, ...]
    """The replicas compared: each member's, and the observer's."""
    diverged: tuple[str, ...]
    """The replicas still different from the server's copy when the wait ran out."""
    settle_s: float
    """How long after the last flush the replicas took to match (or the time waited in vain)."""


@dataclass(frozen=True, slots=True)
class TeamResult:
    """The outcome of a team run. Never a model result when ``scripted`` is true."""

    room: str
    document_path: str
    document: dict[str, Any]
    """The final document as the server holds it, as JSON with element ids."""
    violations: tuple[Violation, ...]
    """What the final document breaks of its schema; empty when it is valid."""
    convergence: Convergence
    members: tuple[MemberResult, ...]
    scripted: bool
    """True when the team ran on a :class:`ScriptedModel` or any reply came from an offline backend."""
    duration_s: float

    @property
    def valid(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the document, validity, convergence and every member's full record."""
        return {
            "room": self.room,
            "document_path": self.document_path,
            "scripted": self.scripted,
            "valid": self.valid,
            "violations": [violation.to_dict() for violation in self.violations],
            "convergence": dataclasses.asdict(self.convergence),
            "duration_s": self.duration_s,
            "members": [member.to_dict() for member in self.members],
            "document": self.document,
        }


async def run_team(spec: TeamSpec) -> TeamResult:
    """Run every member of ``spec`` concurrently on its document, then check convergence and validity.

    A member whose model calls fail (:class:`~mesh_tools.errors.ModelCallError`) is reported in its
    :class:`MemberResult` while the others go on. Raises a :class:`~mesh_tools.errors.MeshError` when
    the room cannot be reached, the document cannot be created or has another schema, or a member's
    last edits cannot be delivered.
    """
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        client = spec.client
        if isinstance(client, ScriptedModel):
            client = await stack.enter_async_context(client.client())
        observer = await stack.enter_async_context(_room_client(spec, spec.observer))
        observed = await _open_document(observer, spec)
        seats = [await _seat(stack, spec, member) for member in spec.members]
        # A task group, so that a run failing outside its model calls (the room went away, a bug) cancels
        # the others instead of orphaning them; the caller gets that failure itself, not a group of one.
        try:
            async with asyncio.TaskGroup() as group:
                runs = [
                    group.create_task(seat.run(spec, client), name=f"agent {seat.member.name}")
                    for seat in seats
                ]
        except ExceptionGroup as failure:
            raise failure.exceptions[0] from failure
        outcomes = [run.result() for run in runs]
        for seat in seats:
            await seat.room.sync.flush(spec.document_path)
        replicas: dict[str, MeshDocument] = {seat.member.name: seat.document for seat in seats}
        replicas[spec.observer] = observed
        convergence, document = await _settle(observer, spec, replicas)
        violations = tuple(observed.validate())
    return TeamResult(
        room=spec.room,
        document_path=spec.document_path,
        document=document,
        violations=violations,
        convergence=convergence,
        members=tuple(outcomes),
        scripted=isinstance(spec.client, ScriptedModel)
        or any(outcome.result is not None and outcome.result.scripted for outcome in outcomes),
        duration_s=time.perf_counter() - started,
    )


def _room_client(spec: TeamSpec, participant: str) -> RoomClient:
    url = websocket_room_url(room_name=spec.room, base_url=spec.url)
    protocol = WebSocketClientProtocol(url=url, token=spec.tokens(participant))
    return RoomClient(protocol=protocol, request_timeout=spec.request_timeout_s)


async def _open_document(observer: RoomClient, spec: TeamSpec) -> MeshDocument:
    """Create the document if it is missing, then open the observer's replica of it."""
    try:
        await observer.sync.create(spec.document_path, json=spec.initial_json, schema=spec.schema)
    except DocumentExistsError:
        if spec.initial_json is not None:
            raise DocumentExistsError(
                f"{spec.document_path} already exists, so initial_json cannot be applied",
                hint="leave initial_json unset to work on the existing document, or use a new path",
            ) from None
    document = await observer.sync.open(spec.document_path, create=False)
    await document.synchronized
    if document.schema != spec.schema:
        raise InvalidOperationError(
            f"{spec.document_path} is a <{document.schema.root_tag_name}> document with another schema "
            "than the team's",
            hint="give the team the document's own schema, or use a new path",
        )
    return document


@dataclass(slots=True)
class _Seat:
    """A member at work: its connection, its replica, its tools and its loop."""

    member: TeamMember
    room: RoomClient
    document: MeshDocument
    toolkit: DocumentToolkit
    tools: Toolkit
    """The toolkit, or the part of it the member's role allows."""
    events: list[TurnEvent] = field(default_factory=list)

    async def run(self, spec: TeamSpec, client: AsyncOpenAI | None) -> MemberResult:
        task = self.member.task or spec.task
        try:
            if self.member.runner is not None:
                result = await self.member.runner(self.member, task, self.toolkit)
            elif self.member.sdk_agent is not None:
                result = await self._agents_sdk(spec, task, client)
            else:
                result = await self._loop(spec, client).run(task, self.tools)
        except MeshError as error:
            return MemberResult(
                self.member.name, self.member.model, None, error.to_dict(), tuple(self.events)
            )
        finally:
            # Releases the toolkit's reference to the document, flushing its edits; the seat's own
            # reference keeps the replica open for the convergence check.
            await self.toolkit.aclose()
        return MemberResult(self.member.name, self.member.model, result)

    async def _agents_sdk(self, spec: TeamSpec, task: str, client: AsyncOpenAI | None) -> AgentResult:
        agent = self.member.sdk_agent
        return await run_agents_sdk(
            agent,
            name=self.member.name,
            task=task,
            toolkit=self.tools,
            model=self.member.model,
            max_turns=self.member.max_turns,
            client=client,
            temperature=self.member.temperature,
            api=spec.api,
            on_event=lambda event: self._record(event, spec.on_event),
            # The team's scripted model answers only an agent that runs on the team's client.
            scripted=isinstance(spec.client, ScriptedModel) and agent.model is None,
        )

    def _loop(self, spec: TeamSpec, client: AsyncOpenAI | None) -> AgentLoop:
        return AgentLoop(
            name=self.member.name,
            instructions=self.member.instructions,
            model=self.member.model,
            api=spec.api,
            max_turns=self.member.max_turns,
            token_budget=spec.token_budget,
            temperature=self.member.temperature,
            parallel_tool_calls=spec.parallel_tool_calls,
            client=client,
            on_event=lambda event: self._record(event, spec.on_event),
            retry=spec.retry,
        )

    async def _record(self, event: TurnEvent, forward: EventCallback | None) -> None:
        self.events.append(event)
        if forward is not None:
            outcome = forward(event)
            if inspect.isawaitable(outcome):
                await outcome


async def _seat(stack: AsyncExitStack, spec: TeamSpec, member: TeamMember) -> _Seat:
    room = await stack.enter_async_context(_room_client(spec, member.name))
    # Opened before the loop starts, so the member begins from the server's state and its replica can
    # be compared at the end even if it never called a tool; the toolkit reuses this open document.
    document = await room.sync.open(spec.document_path, create=False)
    await document.synchronized
    toolkit = DocumentToolkit(room, schema=spec.schema, path=spec.document_path, participant=member.name)
    tools = toolkit if member.allowed_tools is None else LimitedToolkit(toolkit, member.allowed_tools)
    return _Seat(member, room, document, toolkit, tools)


async def _settle(
    observer: RoomClient, spec: TeamSpec, replicas: Mapping[str, MeshDocument]
) -> tuple[Convergence, dict[str, Any]]:
    """Wait for every replica to equal the server's copy; return the verdict and that copy.

    Flushing only says the server stored each member's edits; the broadcasts of the last ones may
    still be on their way to the other replicas, so the comparison is repeated until it holds.
    """
    started = time.perf_counter()
    deadline = started + spec.settle_timeout_s
    while True:
        server_copy = await observer.sync.describe(spec.document_path)
        diverged = _diverged(server_copy, replicas)
        if not diverged or time.perf_counter() >= deadline:
            break
        await asyncio.sleep(_SETTLE_POLL_S)
    convergence = Convergence(
        converged=not diverged,
        replicas=tuple(replicas),
        diverged=diverged,
        settle_s=time.perf_counter() - started,
    )
    return convergence, server_copy


def _diverged(server_copy: dict[str, Any], replicas: Mapping[str, MeshDocument]) -> tuple[str, ...]:
    return tuple(
        name for name, replica in replicas.items() if replica.to_json(include_ids=True) != server_copy
    )
