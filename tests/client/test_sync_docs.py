"""The runnable example of docs/sync-api.md runs, as written, against a real server."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mesh_tools.server import RoomServer

from ..support import run_process

GUIDE = Path(__file__).parents[2] / "docs" / "sync-api.md"


async def test_the_guides_example_runs(tmp_path: Path, secret: str) -> None:
    example = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    async with RoomServer(data_dir=tmp_path / "data", secret=secret) as server:
        run = await run_process(str(script), env={"MESH_TOOLS_URL": server.url, "MESH_TOOLS_SECRET": secret})
    assert run.code == 0, run.err
    described = ast.literal_eval(run.out.strip())
    assert [item["note"]["text"] for item in described["notes"]["items"]] == [
        "write the guide",
        "test the guide",
    ]
