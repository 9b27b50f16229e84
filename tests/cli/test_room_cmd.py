"""``mesh-tools room ...`` as a user runs it: a real CLI subprocess against a real RoomServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mesh_tools.server import RoomServer

from ..support import NOTES, Run, TcpProxy, run_process

ROOM = "cli-room"


async def mesh_tools(*args: str, env: dict[str, str]) -> Run:
    return await run_process("-m", "mesh_tools", *args, env=env)


@pytest.fixture
async def server(tmp_path: Path, secret: str) -> AsyncIterator[RoomServer]:
    # The CLI signs with a key id (MESH_TOOLS_KEY_ID), so this server knows its secret under one.
    async with RoomServer(data_dir=tmp_path / "data", secrets={"k1": secret}) as running:
        yield running


@pytest.fixture
def env(server: RoomServer, secret: str) -> dict[str, str]:
    return {"MESH_TOOLS_URL": server.url, "MESH_TOOLS_SECRET": secret, "MESH_TOOLS_KEY_ID": "k1"}


@pytest.mark.slow  # one `mesh-tools` process per command, ~1 s of imports each
async def test_schema_and_sync_commands_round_trip(tmp_path: Path, env: dict[str, str]) -> None:
    schema_file = tmp_path / "notes.json"
    schema_file.write_text(json.dumps(NOTES.to_json()))
    put = await mesh_tools("room", "schema", "put", "--room", ROOM, "notes", str(schema_file), env=env)
    assert put.code == 0, put.err
    assert (await mesh_tools("room", "schema", "list", "--room", ROOM, env=env)).out.split() == ["notes"]

    content = {"notes": {"items": [{"note": {"text": "from the CLI", "n": 2}}]}}
    created = await mesh_tools(
        "room", "sync", "create", "--room", ROOM, "plan.notes", "--json", json.dumps(content), env=env
    )
    assert created.code == 0, created.err
    explicit = await mesh_tools(
        "room", "sync", "create", "--room", ROOM, "other.doc", "--schema", str(schema_file), env=env
    )
    assert explicit.code == 0, explicit.err

    shown = await mesh_tools("room", "sync", "show", "--room", ROOM, "plan.notes", env=env)
    assert shown.code == 0, shown.err
    note = json.loads(shown.out)["notes"]["items"][0]["note"]
    assert (note["text"], note["n"]) == ("from the CLI", 2)

    tree = await mesh_tools("room", "sync", "show", "--room", ROOM, "plan.notes", "--tree", env=env)
    assert 'note text="from the CLI" n=2' in tree.out
    assert f"#{note['$id']}" in tree.out

    listed = await mesh_tools("room", "sync", "list", "--room", ROOM, env=env)
    assert sorted(listed.out.split()) == ["other.doc", "plan.notes"]


@pytest.mark.slow  # one `mesh-tools` process per command, ~1 s of imports each
async def test_errors_say_what_to_do_next(tmp_path: Path, env: dict[str, str]) -> None:
    missing = await mesh_tools("room", "sync", "show", "--room", ROOM, "nope.notes", env=env)
    assert missing.code == 2
    assert "error [document_not_found]" in missing.err

    bad_json = await mesh_tools(
        "room", "sync", "create", "--room", ROOM, "x.notes", "--json", "{oops", env=env
    )
    assert bad_json.code == 2
    assert "argument --json: not valid JSON" in bad_json.err

    no_token = await mesh_tools("room", "sync", "list", "--room", ROOM, env={**env, "MESH_TOOLS_SECRET": ""})
    assert no_token.code == 2
    assert "MESH_TOOLS_SECRET" in no_token.err

    wrong_key = await mesh_tools(
        "room", "sync", "list", "--room", ROOM, env={**env, "MESH_TOOLS_KEY_ID": "k9"}
    )
    assert wrong_key.code == 2
    assert "unknown key 'k9'" in wrong_key.err

    bad_schema = tmp_path / "bad.json"
    bad_schema.write_text("{}")
    refused = await mesh_tools("room", "schema", "put", "--room", ROOM, "bad", str(bad_schema), env=env)
    assert refused.code == 2
    assert "bad.json" in refused.err


async def test_no_server_means_a_hint_to_start_one(env: dict[str, str]) -> None:
    async with TcpProxy(1) as proxy:
        proxy.offline = True
        run = await mesh_tools(
            "room", "sync", "list", "--room", ROOM, env={**env, "MESH_TOOLS_URL": proxy.url}
        )
    assert run.code == 2
    assert f"cannot connect to {proxy.url}/rooms/{ROOM}" in run.err
    assert "is `mesh-tools serve` running" in run.err


async def test_token_from_the_environment_is_used_as_is(env: dict[str, str]) -> None:
    run = await mesh_tools(
        "room", "sync", "list", "--room", ROOM, env={**env, "MESH_TOOLS_TOKEN": "not-a-jwt"}
    )
    assert run.code == 2
    assert "not a JWT" in run.err
