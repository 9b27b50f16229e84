"""A plain Yjs client (Node, npm ``yjs``) and a Python replica edit one paragraph at once and converge."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh_tools.document import MeshDocument, read_text_delta

from ..support import ARTICLE

#: The JavaScript client's folder: its package.json pins yjs, scripts/deps-web.sh installs it.
JS_DIR = Path(__file__).resolve().parents[2] / "js"


class YjsPeer:
    """The Node process of js/test/text_peer.mjs, spoken to one JSON line at a time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", str(JS_DIR / "test" / "text_peer.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=JS_DIR,
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._process.stdout.readline())
        return answer

    def apply(self, update: bytes) -> None:
        self.ask(update=base64.b64encode(update).decode())

    def edit(self, *ops: list[Any]) -> bytes:
        return base64.b64decode(self.ask(edit=list(ops))["update"])

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


@pytest.fixture
def peer() -> Iterator[YjsPeer]:
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "yjs").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("Node or js/node_modules is missing: run scripts/deps-web.sh")
        pytest.skip("Node or the npm package yjs is missing (scripts/deps-web.sh installs them)")
    running = YjsPeer()
    yield running
    running.close()


@pytest.mark.slow
def test_yjs_and_python_editing_one_paragraph_at_once_converge(peer: YjsPeer) -> None:
    doc = MeshDocument(schema=ARTICLE)
    para = doc.root.append_child("para", {"text": "write the fox 😀 now"})
    peer.apply(doc.get_update())
    base = doc.get_state()
    # Concurrent edits, neither side having seen the other's. JavaScript counts UTF-16 units: the emoji
    # is two, so "now" starts at 17 there and at 16 here.
    from_js = peer.edit(
        ["insert", 20, ". It jumps."],
        ["format", 17, 3, {"italic": True}],
        ["insert", 0, "🎉 "],
    )
    para.insert_text(10, "brown ")
    para.format_text(0, 5, {"bold": True})
    para.delete_text(21, 22)  # the space after the emoji
    from_python = doc.get_update(base)
    assert doc.apply_update(from_js) == []
    peer.apply(from_python)
    wanted = "🎉 write the brown fox 😀now. It jumps."
    assert para.text == wanted
    js_text, js_marks = read_text_delta(peer.ask(read=True)["delta"])
    assert js_text == wanted
    assert js_marks == para.text_marks()
    assert [span.to_json() for span in para.text_marks()] == [
        {"mark": "bold", "start": 2, "end": 7},
        {"mark": "italic", "start": 23, "end": 26},  # "now", after the emoji
    ]
