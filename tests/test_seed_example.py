"""The seed's "Creating a MeshDocument" program, unchanged but for its imports, against `mesh-tools serve`.

Everything runs as a user would run it: the server, the CLI and the program are separate processes,
and the seed's MESHAGENT_* variables name a key the server holds under that key id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty

from .support import ServeProcess, run_process

SEED = Path(__file__).with_name("seed_example.py")
KEY_ID = "seed-key"
SECRET = "seed-secret-0123456789abcdef0123456789"

# What the seed needs: a root that takes a <body> with a text attribute.
DOCUMENT_SCHEMA = MeshSchema(
    root_tag_name="document",
    elements=[
        ElementType(
            tag_name="document", properties=[ChildProperty(name="children", child_tag_names=["body"])]
        ),
        ElementType(tag_name="body", properties=[ValueProperty(name="text", type="string")]),
    ],
)


@pytest.mark.slow
async def test_seed_program_runs_against_our_server(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({KEY_ID: SECRET}))
    schema_file = tmp_path / "document.json"
    schema_file.write_text(json.dumps(DOCUMENT_SCHEMA.to_json()))

    async with ServeProcess(tmp_path / "data", env={}, args=["--secret-file", str(keys)]) as server:
        cli_env = {"MESH_TOOLS_URL": server.url, "MESH_TOOLS_SECRET": SECRET, "MESH_TOOLS_KEY_ID": KEY_ID}
        room = ["-m", "mesh_tools", "room"]
        put = await run_process(
            *room, "schema", "put", "--room", "my-room", "document", str(schema_file), env=cli_env
        )
        assert put.code == 0, put.err

        seed_env = {
            "MESH_TOOLS_URL": server.url,
            "MESHAGENT_PROJECT_ID": "seed-project",
            "MESHAGENT_KEY_ID": KEY_ID,
            "MESHAGENT_SECRET": SECRET,
        }
        seed = await run_process(str(SEED), env=seed_env)
        assert seed.code == 0, seed.err
        assert seed.out.strip() == "Connected to room: my-room"

        show = await run_process(
            *room, "sync", "show", "--room", "my-room", "hello-world.document", env=cli_env
        )
    assert show.code == 0, show.err
    content = json.loads(show.out)
    assert [child["body"]["text"] for child in content["document"]["children"]] == ["hello world!"]
