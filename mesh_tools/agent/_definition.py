"""Agent definitions: declarative TOML files (``agents/*.toml``) and the Markdown prompts they name.

A definition file holds data only::

    name = "writer"
    description = "Writes the content of the sections the architect laid out."
    model = "gpt-5.4-mini"
    prompt = "writer.md"          # a file in the prompts directory
    allowed_tools = ["open_document", "describe_document", "append_child", "set_attribute"]
    max_turns = 30
    temperature = 0.3             # optional; leave it out for reasoning models

Prompt templates are Markdown with the placeholders ``{schema_summary}``, ``{document_path}`` and
``{agent_name}``; any other placeholder is an error, and literal braces are written ``{{`` and ``}}``.
Everything is checked when the file is loaded, and every error names the file and the field.

The ``agents/`` directory must never hold Python files: openai-agents installs the top-level package
``agents``, and an ``agents/__init__.py`` of ours would shadow it.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ..errors import AgentConfigError
from ..tools import TOOL_NAME_PATTERN, ToolName

__all__ = [
    "PROMPT_PLACEHOLDERS",
    "AgentDefinition",
    "load_agent_definition",
    "load_agent_definitions",
    "render_prompt",
]

# The tools of the document toolkit, which a definition may allow unless the caller knows others.
_DOCUMENT_TOOLS = frozenset(ToolName)

#: The placeholders a prompt template may use.
PROMPT_PLACEHOLDERS = frozenset({"schema_summary", "document_path", "agent_name"})


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """A validated agent definition with its prompt template loaded."""

    name: str
    description: str
    model: str
    prompt_path: Path
    prompt_template: str
    allowed_tools: tuple[str, ...]
    max_turns: int
    temperature: float | None
    source: Path
    """The TOML file the definition came from."""

    def instructions(self, *, schema_summary: str, document_path: str) -> str:
        """The agent's instructions: its prompt template filled in for one document."""
        values = {"schema_summary": schema_summary, "document_path": document_path, "agent_name": self.name}
        return render_prompt(self.prompt_template, values, source=self.prompt_path)


class _AgentFile(BaseModel):
    """The fields of an agent TOML file, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=TOOL_NAME_PATTERN.pattern)]
    description: Annotated[str, Field(min_length=1)]
    model: Annotated[str, Field(min_length=1)]
    prompt: Annotated[str, Field(min_length=1)]
    allowed_tools: Annotated[list[str], Field(min_length=1)]
    max_turns: Annotated[int, Field(ge=1, le=500)] = 20
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None

    @field_validator("prompt")
    @classmethod
    def _plain_markdown_file_name(cls, value: str) -> str:
        if Path(value).name != value or not value.endswith(".md"):
            raise ValueError(f"must be the name of a .md file in the prompts directory, not {value!r}")
        return value

    @field_validator("allowed_tools")
    @classmethod
    def _known_unique_tools(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known: Collection[str] = (info.context or {}).get("known_tools", _DOCUMENT_TOOLS)
        unknown = [tool for tool in value if tool not in known]
        if unknown:
            raise ValueError(f"unknown tool(s) {', '.join(unknown)}; known tools: {', '.join(sorted(known))}")
        duplicates = sorted({tool for tool in value if value.count(tool) > 1})
        if duplicates:
            raise ValueError(f"tool(s) listed twice: {', '.join(duplicates)}")
        return value


def load_agent_definition(
    path: Path, *, prompts_dir: Path | None = None, known_tools: Collection[str] = _DOCUMENT_TOOLS
) -> AgentDefinition:
    """Load and check one agent TOML file and its prompt template.

    ``prompts_dir`` defaults to the ``prompts`` directory beside the file's directory (``agents/x.toml``
    uses ``prompts/``). Raises :class:`~mesh_tools.errors.AgentConfigError` naming the file and field.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AgentConfigError(f"{path}: cannot read the agent definition: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise AgentConfigError(f"{path}: not valid TOML: {error}") from error
    try:
        fields = _AgentFile.model_validate(data, context={"known_tools": known_tools})
    except ValidationError as error:
        problems = "; ".join(
            f"field '{'.'.join(str(part) for part in issue['loc']) or '(file)'}': {issue['msg']}"
            for issue in error.errors()
        )
        raise AgentConfigError(
            f"{path}: invalid agent definition: {problems}",
            hint=f"fields: {', '.join(_AgentFile.model_fields)}",
        ) from error
    prompt_path = (prompts_dir or path.parent.parent / "prompts") / fields.prompt
    try:
        template = prompt_path.read_text(encoding="utf-8")
    except OSError as error:
        raise AgentConfigError(
            f"{path}: field 'prompt': cannot read {prompt_path}: {error.strerror}"
        ) from error
    # Rendering with stand-in values checks the template's placeholders now rather than at run time.
    render_prompt(template, dict.fromkeys(PROMPT_PLACEHOLDERS, ""), source=prompt_path)
    return AgentDefinition(
        name=fields.name,
        description=fields.description,
        model=fields.model,
        prompt_path=prompt_path,
        prompt_template=template,
        allowed_tools=tuple(fields.allowed_tools),
        max_turns=fields.max_turns,
        temperature=fields.temperature,
        source=path,
    )


def load_agent_definitions(
    directory: Path, *, prompts_dir: Path | None = None, known_tools: Collection[str] = _DOCUMENT_TOOLS
) -> dict[str, AgentDefinition]:
    """Load every ``*.toml`` in ``directory``, keyed by agent name, in file-name order."""
    if not directory.is_dir():
        raise AgentConfigError(f"{directory}: no such directory of agent definitions")
    python_files = sorted(path.name for path in directory.glob("*.py"))
    if python_files:
        raise AgentConfigError(
            f"{directory}: holds Python files ({', '.join(python_files)})",
            hint="keep agents/ data-only: a Python package named `agents` shadows openai-agents",
        )
    definitions: dict[str, AgentDefinition] = {}
    for path in sorted(directory.glob("*.toml")):
        definition = load_agent_definition(path, prompts_dir=prompts_dir, known_tools=known_tools)
        if definition.name in definitions:
            raise AgentConfigError(
                f"{path}: field 'name': agent {definition.name!r} is already defined in "
                f"{definitions[definition.name].source}"
            )
        definitions[definition.name] = definition
    return definitions


class _StrictValues(dict[str, str]):
    """A format_map mapping that refuses placeholders it does not know instead of leaving them in."""

    def __init__(self, values: Mapping[str, str], source: Path) -> None:
        super().__init__(values)
        self._source = source

    def __missing__(self, key: str) -> str:
        raise AgentConfigError(
            f"{self._source}: unknown placeholder {{{key}}}",
            hint=f"placeholders: {', '.join('{' + name + '}' for name in sorted(self))}; "
            "write literal braces as {{ and }}",
        )


def render_prompt(template: str, values: Mapping[str, str], *, source: Path) -> str:
    """Fill a prompt template's ``{placeholders}`` from ``values``; any other placeholder is an error."""
    hint = "placeholders are plain names such as {agent_name}; write literal braces as {{ and }}"
    try:
        for _, field_name, format_spec, conversion in string.Formatter().parse(template):
            # str.format would happily render {agent_name.upper} or {0}: only bare names are allowed.
            if field_name is not None and (not field_name.isidentifier() or format_spec or conversion):
                raise AgentConfigError(
                    f"{source}: placeholder {{{field_name}}} is not a plain name", hint=hint
                )
        return template.format_map(_StrictValues(values, source))
    except ValueError as error:
        raise AgentConfigError(f"{source}: malformed prompt template: {error}", hint=hint) from error
