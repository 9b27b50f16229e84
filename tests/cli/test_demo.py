"""``mesh-tools demo``, ``agent run`` and ``team run`` as a user runs them: real subprocesses, no TTY."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path

import pytest

from mesh_tools.agent import SCRIPTED_BANNER, token_minter
from mesh_tools.cli import main
from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.demo import DEMO_TITLE, demo_policies, demo_schema
from mesh_tools.document import MeshDocument
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.testing import ScriptedServer

from ..support import Run, run_process

AGENTS = Path(__file__).resolve().parents[2] / "agents"
SCHEMA_FILE = str(files("mesh_tools") / "data" / "report.schema.json")
SECRET = "demo-tests-secret-0123456789abcdef"
ROOM = "cli-team"
DOC = "plans/launch.report"
# No key: the demo must pick the scripted model; no endpoint of the environment may leak in either.
OFFLINE = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "COLUMNS": "120"}


async def mesh_tools(*args: str, env: dict[str, str], timeout: float = 60.0) -> Run:
    async with asyncio.timeout(timeout):
        return await run_process("-m", "mesh_tools", *args, env={**OFFLINE, **env})


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RoomServer]:
    async with RoomServer(data_dir=tmp_path / "server", secret=SECRET) as running:
        yield running


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(demo_policies(demo_schema())) as scripted_server:
        yield scripted_server


async def read_document(server: RoomServer) -> dict[str, object]:
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    protocol = WebSocketClientProtocol(url=url, token=token_minter(SECRET, ROOM)("checker"))
    async with RoomClient(protocol=protocol) as room:
        return await room.sync.describe(DOC)


async def test_demo_runs_offline_without_a_terminal_and_saves_a_valid_document(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    started = time.perf_counter()
    run = await mesh_tools("demo", "--data-dir", str(data_dir), "--agents", str(AGENTS), env={})
    elapsed = time.perf_counter() - started

    assert run.code == 0, run.out + run.err
    assert elapsed < 60
    lines = run.out.splitlines()
    assert SCRIPTED_BANNER in run.out.split("\n", 4)[1], "the banner comes first"
    assert SCRIPTED_BANNER in run.out.rsplit("\n", 4)[-3], "and last"
    assert "\x1b[" not in run.out, "no terminal, no escape codes"
    # One plain line per tool call, the rejected ones with their error and hint.
    assert any(line.startswith("architect  turn  2  ✓ append_child <section> into root →") for line in lines)
    assert any("✗ append_child <item>" in line and "child_not_allowed" in line for line in lines)
    assert any('✗ set_attribute status="approved"' in line and "hint:" in line for line in lines)
    assert "✓ valid" in run.out and "✓ converged" in run.out
    page = next(line for line in lines if line.startswith("Watch and edit in a browser: http://127.0.0.1:"))
    assert "/rooms/demo/docs/reports/launch-plan-" in page and "#token=ey" in page

    (document_file,) = data_dir.glob("launch-plan-*[0-9].json")
    (record_file,) = data_dir.glob("launch-plan-*.run.json")
    assert (data_dir / "rooms.sqlite3").exists()
    assert f"saved: {document_file}" in run.out
    document = MeshDocument.from_json(demo_schema(), json.loads(document_file.read_text()))
    assert document.validate() == []
    assert document.root["title"] == DEMO_TITLE
    record = json.loads(record_file.read_text())
    assert record["scripted"] and record["valid"] and record["convergence"]["converged"]
    assert [member["result"]["stop_reason"] for member in record["members"]] == ["final_message"] * 3


async def test_agent_run_then_team_run_against_a_running_server(
    tmp_path: Path,
    server: RoomServer,
    scripted: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    offline_env(monkeypatch, MESH_TOOLS_SECRET=SECRET, MESH_TOOLS_URL=server.url)
    model = ["--base-url", scripted.base_url, "--plain"]
    record = tmp_path / "architect.json"
    architect = [
        "agent", "run", str(AGENTS / "architect.toml"), "--room", ROOM, "--doc", DOC,
        "--schema", SCHEMA_FILE, "--model", "scripted:architect", "--json", str(record), *model,
    ]  # fmt: skip
    assert await asyncio.to_thread(main, architect) == 0, capsys.readouterr()
    assert SCRIPTED_BANNER in capsys.readouterr().out
    laid_out = await read_document(server)
    sections = laid_out["report"]["children"]  # type: ignore[index]
    assert len(sections) == 5 and {s["section"]["status"] for s in sections} == {"draft"}
    assert json.loads(record.read_text())["members"][0]["result"]["scripted"] is True

    # No --schema: the team works on the existing document with its own schema.
    team = [
        "team", "run", "--room", ROOM, "--doc", DOC, str(AGENTS / "writer.toml"),
        str(AGENTS / "reviewer.toml"), "--model", "scripted:{agent}", *model,
    ]  # fmt: skip
    assert await asyncio.to_thread(main, team) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "✓ valid" in out and "✓ converged" in out
    final = await read_document(server)
    assert final["report"]["title"] == DEMO_TITLE  # type: ignore[index]
    statuses = {s["section"]["status"] for s in final["report"]["children"]}  # type: ignore[index]
    assert statuses == {"reviewed"}


async def test_commands_explain_what_is_missing(
    server: RoomServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    offline_env(monkeypatch, MESH_TOOLS_URL=server.url, MESH_TOOLS_SECRET="")
    no_secret = ["team", "run", "--room", ROOM, "--doc", DOC, str(AGENTS / "writer.toml")]
    assert await asyncio.to_thread(main, no_secret) == 2
    err = capsys.readouterr().err
    assert "MESH_TOOLS_SECRET" in err and "hint:" in err

    monkeypatch.setenv("MESH_TOOLS_SECRET", SECRET)
    missing = ["agent", "run", str(AGENTS / "writer.toml"), "--room", ROOM, "--doc", "nope.report"]
    assert await asyncio.to_thread(main, missing) == 2
    err = capsys.readouterr().err
    assert "nope.report does not exist" in err and "--schema" in err

    no_key = [
        "agent",
        "run",
        str(AGENTS / "writer.toml"),
        "--room",
        ROOM,
        "--doc",
        DOC,
        "--schema",
        SCHEMA_FILE,
    ]
    assert await asyncio.to_thread(main, no_key) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "mesh-tools demo" in err

    assert await asyncio.to_thread(main, ["demo", "--scripted", "--model", "gpt-5.4-mini"]) == 2
    assert "exclude each other" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "answers"),
    [
        (["demo"], ["OPENAI_API_KEY", "scripted", "--data-dir", "--pace"]),
        (["agent", "run"], ["MESH_TOOLS_SECRET", "MESH_TOOLS_TOKEN", "--base-url"]),
        (["team", "run"], ["MESH_TOOLS_SECRET", "{agent}", "--schema"]),
    ],
)
def test_help_answers_how_to_run_offline_and_with_a_model(
    command: list[str], answers: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for answer in answers:
        assert answer in out


def offline_env(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in {**OFFLINE, **variables}.items():
        monkeypatch.setenv(name, value)


async def test_demo_seats_openai_agents_beside_our_loop(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    run = await mesh_tools(
        "demo",
        "--data-dir",
        str(data_dir),
        "--agents",
        str(AGENTS),
        "--openai-agents",
        "writer,reviewer",
        env={},
    )
    assert run.code == 0, run.out + run.err
    assert "✓ valid" in run.out and "✓ converged" in run.out
    (record_file,) = data_dir.glob("launch-plan-*.run.json")
    record = json.loads(record_file.read_text())
    apis = {m["agent"]: {e["api"] for e in m["result"]["events"]} for m in record["members"]}
    assert apis == {"architect": {"responses"}, "writer": {"openai-agents"}, "reviewer": {"openai-agents"}}
    assert record["scripted"] and all(m["result"]["scripted"] for m in record["members"])


async def test_an_unknown_openai_agents_name_is_refused(tmp_path: Path) -> None:
    run = await mesh_tools("demo", "--data-dir", str(tmp_path), "--openai-agents", "editor", env={})
    assert run.code != 0 and "--openai-agents names no agent of the team: editor" in run.err
