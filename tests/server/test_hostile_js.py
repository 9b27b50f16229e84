"""A JS-Yjs participant breaks the layout on purpose through the wire (tests/js_hostile/hostile_writer.mjs).

Node and the pinned npm packages come from scripts/deps-node-yjs.sh (``make test`` runs it);
without them the test skips, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from mesh_tools.server import RoomServer

from ..support import MakeToken, RawConnector

WRITER = Path(__file__).parent.parent / "js_hostile" / "hostile_writer.mjs"

#: What the writer must hear back for each case: refused outright, or mended (sync.rejected).
EXPECTED = {
    "delete the root": ["update_refused"],
    "second root before the real one": ["update_refused"],
    "second root after the real one": ["update_refused"],
    "rename the root": ["update_refused"],
    # Beside an element the replica holds: the guard places it through its record of the replica.
    "text node": ["update_refused"],
    "a plain value into an honest element": ["update_refused"],
    "characters into an honest element": ["update_refused"],
    "an element as an honest element's attribute": ["update_refused"],
    "top-level map": ["update_refused"],
    "top-level text": ["update_refused"],
    "unknown element": ["sync.rejected"],
    "null attribute": ["sync.rejected"],
    "rename an honest element to another one's id": ["sync.rejected"],
    "remove an honest element's id": ["sync.rejected"],
    "elements nested 700 deep": ["sync.rejected"],
}


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (WRITER.parent / "node_modules" / "yjs").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("node or tests/js_hostile/node_modules is missing: run scripts/deps-node-yjs.sh")
        pytest.skip("node or tests/js_hostile/node_modules is missing: run scripts/deps-node-yjs.sh")
    return node


async def test_a_js_yjs_writer_cannot_break_the_document(
    server: RoomServer, raw_client: RawConnector, make_token: MakeToken
) -> None:
    node = _node()
    async with raw_client(server.url) as alice:
        honest = await alice.open("target.doc")
        honest.doc.root.set_attribute("title", "kept")
        first = honest.doc.root.append_child("p", {"text": "first", "size": 1})
        second = honest.doc.root.append_child("p", {"text": "second"})
        await alice.request("sync.flush", channel=honest.channel)
        process = await asyncio.create_subprocess_exec(
            node,
            str(WRITER),
            f"{server.url}/rooms/lab",
            make_token(name="mallory"),
            "target.doc",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        heard = {line["case"]: line["pushes"] for line in map(json.loads, out.decode().splitlines())}
        assert heard == EXPECTED
        await alice.request("sync.flush", channel=honest.channel)
        # Every honest element is where it was, under its id; nothing hostile is left anywhere.
        assert honest.doc.validate() == []
        assert [child.id for child in honest.doc.root.get_children()] == [first.id, second.id]
        assert [child.attributes for child in honest.doc.root.get_children()] == [
            {"text": "first", "size": 1},
            {"text": "second"},
        ]
        described = await alice.request("sync.describe", path="target.doc")
        assert described["json"] == honest.doc.to_json(include_ids=True)
        assert list(honest.doc.ydoc.keys()) == ["mesh"]
