"""Agent definitions: the shipped roles load, and every kind of bad file is refused naming file and field."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from mesh_tools.agent import load_agent_definition, load_agent_definitions, render_prompt
from mesh_tools.errors import AgentConfigError
from mesh_tools.tools import ToolName

DOCUMENT_TOOLS = frozenset(ToolName)
REPOSITORY = Path(__file__).resolve().parents[2]
VALID = """\
name = "scribe"
description = "Keeps notes."
model = "gpt-5.4-mini"
prompt = "scribe.md"
allowed_tools = ["describe_document", "append_child"]
max_turns = 7
temperature = 0.4
"""


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "scribe.md").write_text(
        "I am {agent_name} on {document_path}.\n{schema_summary}\n"
    )
    return tmp_path


def write_agent(layout: Path, text: str, name: str = "scribe.toml") -> Path:
    path = layout / "agents" / name
    path.write_text(text)
    return path


def test_the_shipped_roles_load_and_render() -> None:
    definitions = load_agent_definitions(REPOSITORY / "agents")

    assert sorted(definitions) == ["architect", "reviewer", "writer"]
    for name, definition in definitions.items():
        assert definition.prompt_path == REPOSITORY / "prompts" / f"{name}.md"
        assert set(definition.allowed_tools) <= DOCUMENT_TOOLS
        assert {"open_document", "describe_document"} <= set(definition.allowed_tools)
        text = definition.instructions(schema_summary="<<SCHEMA>>", document_path="notes/plan.document")
        assert "<<SCHEMA>>" in text and "notes/plan.document" in text and f"You are {name}" in text
        assert "{" not in text and "}" not in text
    assert "append_child" in definitions["architect"].allowed_tools
    assert "append_child" not in definitions["reviewer"].allowed_tools
    assert "delete_element" not in definitions["writer"].allowed_tools


def test_a_valid_file_loads_every_field(layout: Path) -> None:
    path = write_agent(layout, VALID)
    definition = load_agent_definition(path)

    assert (definition.name, definition.description, definition.model) == (
        "scribe",
        "Keeps notes.",
        "gpt-5.4-mini",
    )
    assert definition.allowed_tools == ("describe_document", "append_child")
    assert (definition.max_turns, definition.temperature) == (7, 0.4)
    assert definition.source == path
    assert definition.instructions(schema_summary="S", document_path="d") == "I am scribe on d.\nS\n"


def test_optional_fields_take_their_defaults(layout: Path) -> None:
    text = "\n".join(line for line in VALID.splitlines() if not line.startswith(("max_turns", "temperature")))
    definition = load_agent_definition(write_agent(layout, text))
    assert (definition.max_turns, definition.temperature) == (20, None)


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (("max_turns = 7", 'max_turns = "many"'), "max_turns", "valid integer"),
        (("max_turns = 7", "max_turns = 0"), "max_turns", "greater than or equal to 1"),
        (("temperature = 0.4", "temperature = 9.0"), "temperature", "less than or equal to 2"),
        (('name = "scribe"', 'name = "a scribe"'), "name", "pattern"),
        (('prompt = "scribe.md"', 'prompt = "../secrets.md"'), "prompt", "name of a .md file"),
        (('"append_child"]', '"append_child", "rm_rf"]'), "allowed_tools", "unknown tool(s) rm_rf"),
        (
            ('"append_child"]', '"append_child", "append_child"]'),
            "allowed_tools",
            "listed twice: append_child",
        ),
        (('model = "gpt-5.4-mini"\n', ""), "model", "Field required"),
        (("max_turns = 7", "max_turns = 7\ncolour = 'red'"), "colour", "Extra inputs are not permitted"),
    ],
)
def test_invalid_fields_are_refused_naming_file_and_field(
    layout: Path, change: tuple[str, str], field: str, detail: str
) -> None:
    path = write_agent(layout, VALID.replace(*change))
    with pytest.raises(AgentConfigError) as raised:
        load_agent_definition(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"field '{field}'" in message
    assert detail in message
    assert raised.value.code == "invalid_agent_config"


def test_broken_toml_is_refused_naming_the_file(layout: Path) -> None:
    path = write_agent(layout, VALID + "name = \n")
    with pytest.raises(AgentConfigError, match="not valid TOML") as raised:
        load_agent_definition(path)
    assert str(path) in str(raised.value)


def test_a_missing_prompt_file_is_refused_naming_the_prompt_field(layout: Path) -> None:
    path = write_agent(layout, VALID.replace("scribe.md", "absent.md"))
    with pytest.raises(AgentConfigError, match=r"field 'prompt': cannot read .*absent\.md"):
        load_agent_definition(path)


def test_an_unknown_placeholder_is_refused_when_the_file_loads(layout: Path) -> None:
    (layout / "prompts" / "scribe.md").write_text("Hello {agent_name}, see {document_url}.")
    with pytest.raises(AgentConfigError, match=r"scribe\.md: unknown placeholder \{document_url\}"):
        load_agent_definition(write_agent(layout, VALID))


@pytest.mark.parametrize(
    "template",
    ["{0}", "{}", "{agent_name.upper}", "{agent_name[0]}", "{agent_name!r}", "a } b", "{agent_name"],
)
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(AgentConfigError, match=r"prompt template|not a plain name"):
        render_prompt(template, {"agent_name": "x"}, source=Path("p.md"))


def test_literal_braces_are_written_doubled() -> None:
    rendered = render_prompt('Send {{"id": "{agent_name}"}}', {"agent_name": "x"}, source=Path("p.md"))
    assert rendered == 'Send {"id": "x"}'


def test_known_tools_can_be_extended_by_the_caller(layout: Path) -> None:
    path = write_agent(layout, VALID.replace('"append_child"]', '"append_child", "move_element"]'))
    definition = load_agent_definition(path, known_tools=DOCUMENT_TOOLS | {"move_element"})
    assert definition.allowed_tools[-1] == "move_element"


def test_duplicate_agent_names_are_refused(layout: Path) -> None:
    write_agent(layout, VALID, "a.toml")
    second = write_agent(layout, VALID, "b.toml")
    with pytest.raises(AgentConfigError, match="already defined in") as raised:
        load_agent_definitions(layout / "agents")
    assert str(second) in str(raised.value)


def test_a_definitions_directory_with_python_files_is_refused(layout: Path) -> None:
    write_agent(layout, VALID)
    (layout / "agents" / "__init__.py").write_text("")
    with pytest.raises(AgentConfigError, match="shadows openai-agents"):
        load_agent_definitions(layout / "agents")


def test_the_repository_agents_folder_stays_data_only_and_does_not_shadow_openai_agents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [path.name for path in (REPOSITORY / "agents").iterdir() if path.suffix != ".toml"] == []
    monkeypatch.syspath_prepend(str(REPOSITORY))
    monkeypatch.delitem(sys.modules, "agents", raising=False)
    agents = importlib.import_module("agents")
    assert agents.__file__ is not None and "site-packages" in agents.__file__
