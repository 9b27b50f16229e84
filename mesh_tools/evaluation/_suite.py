"""Eval suites on disk: ``evals/<suite>/suite.yaml``, ``tasks/*.yaml``, schemas and documents beside.

``suite.yaml``::

    name: core
    description: Schema-valid edits on three kinds of documents.
    schemas: {page: schemas/web-page.json, board: schemas/task-board.json}
    documents: {board: documents/board.json}        # named starting documents (document JSON)
    agent_files: [agents/editor.toml]               # agent definitions (TOML, see docs/agents.md)
    agents:                                         # or inline, with the prompt template as text
      - name: triager
        description: Sorts tasks.
        prompt: "You are {agent_name} ... {schema_summary}"
        allowed_tools: [describe_document, set_attribute]

``tasks/<any>.yaml`` holds ``tasks:``, a list of::

    id: board-add-task
    category: create        # one of CATEGORIES; multi_agent and conflict tasks have several agents
    schema: board
    document: board         # a named document, or document JSON inline
    instruction: Add a task "Ship it" to the To do column.
    agents:
      - agent: editor       # participant name defaults to the agent's; set name: to use one twice
        instruction: ...    # optional, replaces the task's for this agent
        reference: [...]    # see reference.py
    goal: [...]             # the expected final document: every change, see goals.py
    checks: [...]           # optional further checks, see checks.py

Everything is checked on load (schemas, starting documents against their schema, references against
the agents' tools, selectors and expressions), and every error names the file and the field.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is a test extra
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ..agent import PROMPT_PLACEHOLDERS, AgentDefinition, load_agent_definition, render_prompt
from ..document import MeshDocument
from ..errors import AgentConfigError, MeshError
from ..schema import MeshSchema
from ..tools import TOOL_NAME_PATTERN, ToolName
from ._checks import Check
from ._errors import SuiteError
from ._generated import generate
from ._goals import GoalChange, goal_problems
from ._reference import PlayedStep, ReferenceStep, reference_problems

__all__ = [
    "CATEGORIES",
    "TEAM_CATEGORIES",
    "Category",
    "Suite",
    "SuiteError",
    "Task",
    "TaskAgent",
    "load_suite",
]

Category = Literal[
    "create",
    "nested",
    "typed",
    "edit",
    "delete",
    "impossible",
    "multi_agent",
    "long",
    "deep",
    "inference",
    "relevance",
    "conflict",
    "recovery",
]
#: Task categories, in the order reports list them.
CATEGORIES: tuple[Category, ...] = get_args(Category)
#: Categories whose tasks have several agents, working at the same time; every other task has one.
TEAM_CATEGORIES: frozenset[Category] = frozenset({"multi_agent", "conflict"})

_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"


# -- the files, as written ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _InlineAgent(_Strict):
    name: Annotated[str, Field(pattern=TOOL_NAME_PATTERN.pattern)]
    description: Annotated[str, Field(min_length=1)]
    prompt: Annotated[str, Field(min_length=1)]
    """The prompt template itself (placeholders as in prompts/*.md)."""
    allowed_tools: Annotated[list[str], Field(min_length=1)]
    max_turns: Annotated[int, Field(ge=1, le=500)] = 20
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None


class _Generated(BaseModel):
    """A document built by code (``generated.py``): ``{generate: board, columns: 30, tasks: 40}``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    generate: str

    def parameters(self) -> dict[str, int]:
        return {key: int(value) for key, value in (self.model_extra or {}).items()}


class _SuiteFile(_Strict):
    name: Annotated[str, Field(pattern=_ID)]
    description: Annotated[str, Field(min_length=1)]
    schemas: Annotated[dict[str, str], Field(min_length=1)]
    documents: dict[str, str | _Generated] = Field(default_factory=dict)
    agent_files: list[str] = Field(default_factory=list)
    agents: list[_InlineAgent] = Field(default_factory=list)


class _Role(_Strict):
    agent: str
    name: Annotated[str | None, Field(pattern=TOOL_NAME_PATTERN.pattern)] = None
    instruction: str | None = None
    reference: Annotated[list[ReferenceStep], Field(min_length=1)]


class _TaskEntry(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    category: Category
    description: str | None = None
    schema_name: Annotated[str, Field(alias="schema")]
    document: str | dict[str, JsonValue]
    instruction: Annotated[str, Field(min_length=1)]
    agents: Annotated[list[_Role], Field(min_length=1)]
    goal: list[GoalChange]
    checks: list[Check] = Field(default_factory=list)


class _TaskFile(_Strict):
    tasks: Annotated[list[_TaskEntry], Field(min_length=1)]


# -- the loaded suite --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskAgent:
    """One participant of a task: who it is, what it is told, and what a correct agent would do."""

    name: str
    definition: AgentDefinition
    instruction: str
    reference: tuple[PlayedStep, ...]


@dataclass(frozen=True, slots=True)
class Task:
    """One eval task, checked and ready to run."""

    id: str
    category: Category
    description: str | None
    schema_name: str
    schema: MeshSchema
    document: Mapping[str, Any]
    """The starting document as written (document JSON without ids)."""
    document_name: str | None
    """The suite's name for the starting document; None when the task writes it inline."""
    start: Mapping[str, Any]
    """The starting document as the document renders it, what ``unchanged`` compares with."""
    instruction: str
    agents: tuple[TaskAgent, ...]
    goal: tuple[GoalChange, ...]
    """Every change a correct agent makes; everything else must end as it started (goals.py)."""
    checks: tuple[Check, ...]
    """Further checks, such as ``rejected_writes``; the goal is the main one."""
    source: Path

    @property
    def multi_agent(self) -> bool:
        return len(self.agents) > 1

    @property
    def needs_edit(self) -> bool:
        """Whether a correct agent changes the document; False for requests to decline or already met."""
        return bool(self.goal)


@dataclass(frozen=True, slots=True)
class Suite:
    """A loaded suite: its tasks in file order and the schemas they use."""

    name: str
    description: str
    path: Path
    tasks: tuple[Task, ...]
    schemas: Mapping[str, MeshSchema] = field(repr=False)

    def only(self, patterns: Sequence[str]) -> Suite:
        """The tasks whose id matches any of the glob ``patterns``; all of them when there are none."""
        if not patterns:
            return self
        tasks = tuple(t for t in self.tasks if any(fnmatch.fnmatchcase(t.id, p) for p in patterns))
        if not tasks:
            raise SuiteError(
                f"no task of suite {self.name!r} matches {', '.join(patterns)}",
                hint=f"task ids: {', '.join(t.id for t in self.tasks)}",
            )
        return replace(self, tasks=tasks)


def load_suite(path: str | Path) -> Suite:
    """Load and check the suite in directory ``path`` (or at ``path/suite.yaml``)."""
    directory = Path(path)
    suite_path = directory if directory.is_file() else directory / "suite.yaml"
    directory = suite_path.parent
    spec = _parse(_SuiteFile, suite_path)
    schemas = {name: _schema(directory, suite_path, name, file) for name, file in spec.schemas.items()}
    documents = {
        name: _document(directory, suite_path, name, source) for name, source in spec.documents.items()
    }
    # Rendered once per named document: a long one takes a second or more to build.
    rendered: dict[str, Mapping[str, Any]] = {}
    agents = _agents(directory, suite_path, spec)
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    task_files = sorted((directory / "tasks").glob("*.yaml"))
    if not task_files:
        raise SuiteError(f"{directory}: no task files", hint="put task lists in tasks/*.yaml")
    for task_path in task_files:
        for index, entry in enumerate(_parse(_TaskFile, task_path).tasks):
            where = f"{task_path}: tasks[{index}] ({entry.id})"
            if entry.id in seen:
                raise SuiteError(
                    f"{where}: field 'id': task {entry.id!r} is already defined in {seen[entry.id]}"
                )
            seen[entry.id] = task_path
            tasks.append(_task(entry, where, task_path, schemas, documents, rendered, agents))
    return Suite(spec.name, spec.description, directory, tuple(tasks), schemas)


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], path: Path) -> _M:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SuiteError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise SuiteError(f"{path}: not valid YAML: {error}") from error
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise SuiteError(f"{path}: {_problems(error, data)}", hint=_fields_hint(model)) from error


def _problems(error: ValidationError, data: Any) -> str:
    lines = []
    for issue in error.errors()[:5]:
        location = issue["loc"]
        label = ".".join(str(part) for part in location) or "(file)"
        if len(location) >= 2 and location[0] == "tasks" and isinstance(location[1], int):
            task_id = _task_id(data, location[1])
            rest = ".".join(str(part) for part in location[2:]) or "(task)"
            label = f"tasks[{location[1]}]{f' ({task_id})' if task_id else ''}: field '{rest}'"
        else:
            label = f"field '{label}'"
        lines.append(f"{label}: {issue['msg']}")
    more = len(error.errors()) - len(lines)
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def _task_id(data: Any, index: int) -> str | None:
    try:
        task_id = data["tasks"][index]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return task_id if isinstance(task_id, str) else None


def _fields_hint(model: type[BaseModel]) -> str:
    entry = _TaskEntry if model is _TaskFile else model
    return f"fields: {', '.join(info.alias or name for name, info in entry.model_fields.items())}"


def _schema(directory: Path, suite_path: Path, name: str, file: str) -> MeshSchema:
    try:
        return MeshSchema.from_file(directory / file)
    except MeshError as error:
        raise SuiteError(f"{suite_path}: field 'schemas.{name}': {error.message}", hint=error.hint) from error


def _document(directory: Path, suite_path: Path, name: str, source: str | _Generated) -> dict[str, Any]:
    if isinstance(source, str):
        return _json_file(directory, suite_path, f"documents.{name}", source)
    try:
        return generate(source.generate, source.parameters())
    except ValueError as error:
        raise SuiteError(f"{suite_path}: field 'documents.{name}': {error}") from error


def _json_file(directory: Path, suite_path: Path, label: str, file: str) -> dict[str, Any]:
    path = directory / file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SuiteError(f"{suite_path}: field '{label}': cannot read {path}: {error.strerror}") from error
    except ValueError as error:
        raise SuiteError(f"{suite_path}: field '{label}': {path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise SuiteError(f"{suite_path}: field '{label}': {path} must hold one document JSON object")
    return data


def _agents(directory: Path, suite_path: Path, spec: _SuiteFile) -> dict[str, AgentDefinition]:
    agents: dict[str, AgentDefinition] = {}

    def add(definition: AgentDefinition, label: str) -> None:
        if definition.name in agents:
            raise SuiteError(f"{suite_path}: field '{label}': agent {definition.name!r} is defined twice")
        agents[definition.name] = definition

    for index, file in enumerate(spec.agent_files):
        try:
            add(load_agent_definition(directory / file), f"agent_files[{index}]")
        except AgentConfigError as error:
            raise SuiteError(
                f"{suite_path}: field 'agent_files[{index}]': {error.message}", hint=error.hint
            ) from error
    for index, inline in enumerate(spec.agents):
        label = f"agents[{index}]"
        unknown = sorted(set(inline.allowed_tools) - set(ToolName))
        if unknown:
            raise SuiteError(
                f"{suite_path}: field '{label}.allowed_tools': unknown tool(s) {', '.join(unknown)}",
                hint=f"known tools: {', '.join(sorted(ToolName))}",
            )
        try:
            render_prompt(inline.prompt, dict.fromkeys(PROMPT_PLACEHOLDERS, ""), source=suite_path)
        except AgentConfigError as error:
            raise SuiteError(
                f"{suite_path}: field '{label}.prompt': {error.message}", hint=error.hint
            ) from error
        add(
            AgentDefinition(
                name=inline.name,
                description=inline.description,
                # Evals always run the model given on the command line.
                model="",
                prompt_path=suite_path,
                prompt_template=inline.prompt,
                allowed_tools=tuple(inline.allowed_tools),
                max_turns=inline.max_turns,
                temperature=inline.temperature,
                source=suite_path,
            ),
            label,
        )
    return agents


def _task(
    entry: _TaskEntry,
    where: str,
    source: Path,
    schemas: Mapping[str, MeshSchema],
    documents: Mapping[str, dict[str, Any]],
    rendered: dict[str, Mapping[str, Any]],
    agents: Mapping[str, AgentDefinition],
) -> Task:
    schema = schemas.get(entry.schema_name)
    if schema is None:
        raise SuiteError(
            f"{where}: field 'schema': unknown schema {entry.schema_name!r}", hint=_known(schemas)
        )
    if isinstance(entry.document, str):
        document = documents.get(entry.document)
        if document is None:
            raise SuiteError(
                f"{where}: field 'document': unknown document {entry.document!r}", hint=_known(documents)
            )
    else:
        document = entry.document
    key = f"{entry.schema_name}:{entry.document}" if isinstance(entry.document, str) else None
    try:
        start = rendered.get(key) if key is not None else None
        if start is None:
            start = MeshDocument.from_json(schema, document).to_json()
            if key is not None:
                rendered[key] = start
    except MeshError as error:
        raise SuiteError(
            f"{where}: field 'document': not a valid {entry.schema_name!r} document: {error.message}",
            hint=error.hint,
        ) from error
    roles = _roles(entry, where, agents)
    if (entry.category in TEAM_CATEGORIES) != (len(roles) > 1):
        raise SuiteError(
            f"{where}: field 'category': a task has several agents exactly when its category is one of "
            f"{', '.join(sorted(TEAM_CATEGORIES))}",
            hint=f"it has {len(roles)} agent(s) and category {entry.category!r}",
        )
    problems = goal_problems(entry.goal, start, schema)
    if problems:
        raise SuiteError(f"{where}: field 'goal': {'; '.join(problems)}")
    return Task(
        id=entry.id,
        category=entry.category,
        description=entry.description,
        schema_name=entry.schema_name,
        schema=schema,
        document=document,
        document_name=entry.document if isinstance(entry.document, str) else None,
        start=start,
        instruction=entry.instruction,
        agents=roles,
        goal=tuple(entry.goal),
        checks=tuple(entry.checks),
        source=source,
    )


def _roles(entry: _TaskEntry, where: str, agents: Mapping[str, AgentDefinition]) -> tuple[TaskAgent, ...]:
    roles: list[TaskAgent] = []
    for index, role in enumerate(entry.agents):
        label = f"{where}: field 'agents[{index}]"
        definition = agents.get(role.agent)
        if definition is None:
            raise SuiteError(f"{label}.agent': unknown agent {role.agent!r}", hint=_known(agents))
        name = role.name or definition.name
        if any(existing.name == name for existing in roles):
            raise SuiteError(f"{label}.name': two agents are named {name!r}", hint="give each one a name:")
        problems = reference_problems(role.reference, set(definition.allowed_tools))
        if problems:
            raise SuiteError(f"{label}.reference': {'; '.join(problems)}")
        roles.append(
            TaskAgent(name, definition, role.instruction or entry.instruction, tuple(role.reference))
        )
    return tuple(roles)


def _known(names: Iterable[str]) -> str:
    return f"known: {', '.join(sorted(names)) or '(none)'}"
