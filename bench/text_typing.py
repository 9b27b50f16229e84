"""Typing into one paragraph one keystroke at a time while another participant watches.

    python bench/text_typing.py [--keystrokes 10000] [--interval-ms 2] [--skip-server]

Three ways to type the same characters, measured in the same run:

- text: ``Element.insert_text`` into the paragraph's collaborative text (mesh-tools, issue 12);
- raw pycrdt: ``XmlText.insert`` on a plain pycrdt document, the reference (target: text <= 3x this);
- attribute: rewriting the whole string attribute per keystroke, what MeshAgent's chat bot does.

In process: the typist's cost per keystroke (the edit and its update, which a listener collects as a
sync client would) and the watcher's (applying that update to its replica), plus the bytes sent.
Through the room server (``mesh-tools serve`` in a child process, two RoomClients on loopback): the
typist types one keystroke every ``--interval-ms``; edit-to-remote-visible is the time from the edit to
the watcher's replica showing that character, p50/p99 over all keystrokes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from _summary import Topic, add_summary_argument, at_most, context, record  # bench/ is on the path
from pycrdt import Doc, TransactionEvent, XmlElement, XmlFragment, XmlText
from rich.console import Console
from rich.table import Table

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.document import AttributeChanged, DocumentEvent, Element, MeshDocument, TextChanged
from mesh_tools.helpers import websocket_room_url
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, TextProperty, ValueProperty
from mesh_tools.tokens import ParticipantToken

SECRET = "bench-secret-0123456789abcdef0123456789"
ROOM = "typing"
SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(
            tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p", "msg"])]
        ),
        ElementType(tag_name="p", properties=[TextProperty(name="text", marks=["bold"])]),
        ElementType(tag_name="msg", properties=[ValueProperty(name="text", type="string")]),
    ],
)
#: What is typed: prose with some non-ASCII characters, so offsets are converted for real.
PHRASE = "The quick brown fox jumps over the lazy dog; café, naïve, 😀. "


def keystrokes(count: int) -> str:
    return (PHRASE * (count // len(PHRASE) + 1))[:count]


@dataclass(frozen=True, slots=True)
class InProcess:
    """Per keystroke: the typist's edit and the watcher's apply (µs), and the bytes of all updates."""

    edit_us: float
    apply_us: float
    update_bytes: int


# -- in process -----------------------------------------------------------------------------------


def _timed_apply(updates: list[bytes], apply: Callable[[bytes], object]) -> float:
    started = time.perf_counter()
    for update in updates:
        apply(update)
    return (time.perf_counter() - started) / len(updates) * 1e6


def raw_pycrdt(text: str) -> InProcess:
    typist: Doc[Any] = Doc()
    paragraph = typist.get("mesh", type=XmlFragment).children.append(XmlElement("p", {}, [XmlText()]))
    watcher: Doc[Any] = Doc()
    watcher.apply_update(typist.get_update())
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(event.update)

    typist.observe(collect)
    node = paragraph.children[0]
    assert isinstance(node, XmlText)
    offset = 0
    started = time.perf_counter()
    for char in text:
        node.insert(offset, char)
        offset += len(char.encode("utf-8"))  # pycrdt counts UTF-8 bytes
    edit_us = (time.perf_counter() - started) / len(text) * 1e6
    return InProcess(edit_us, _timed_apply(updates, watcher.apply_update), sum(map(len, updates)))


def _mesh_pair() -> tuple[MeshDocument, MeshDocument, list[bytes]]:
    typist = MeshDocument(schema=SCHEMA)
    watcher = MeshDocument(schema=SCHEMA)
    updates: list[bytes] = []
    typist.on_update(lambda update, origin: updates.append(update))
    return typist, watcher, updates


def mesh_text(text: str) -> InProcess:
    typist, watcher, updates = _mesh_pair()
    paragraph = typist.root.append_child("p")
    watcher.apply_update(typist.get_update())
    updates.clear()
    started = time.perf_counter()
    for index, char in enumerate(text):
        paragraph.insert_text(index, char)
    edit_us = (time.perf_counter() - started) / len(text) * 1e6
    apply_us = _timed_apply(updates, watcher.apply_update)
    assert watcher.element_by_id(paragraph.id).text == text
    return InProcess(edit_us, apply_us, sum(map(len, updates)))


def mesh_attribute(text: str) -> InProcess:
    typist, watcher, updates = _mesh_pair()
    message = typist.root.append_child("msg", {"text": ""})
    watcher.apply_update(typist.get_update())
    updates.clear()
    started = time.perf_counter()
    for end in range(1, len(text) + 1):
        message.set_attribute("text", text[:end])
    edit_us = (time.perf_counter() - started) / len(text) * 1e6
    apply_us = _timed_apply(updates, watcher.apply_update)
    assert watcher.element_by_id(message.id).get_attribute("text") == text
    return InProcess(edit_us, apply_us, sum(map(len, updates)))


# -- through the room server ------------------------------------------------------------------------


@contextlib.contextmanager
def server_process(data_dir: str) -> Iterator[str]:
    command = [sys.executable, "-m", "mesh_tools", "serve", "--port", "0", "--data-dir", data_dir]
    process = subprocess.Popen(
        command, env={**os.environ, "MESH_TOOLS_SECRET": SECRET}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError("the room server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _client(url: str, name: str) -> RoomClient:
    token = ParticipantToken.for_room(name=name, room=ROOM).to_jwt(token=SECRET)
    protocol = WebSocketClientProtocol(url=websocket_room_url(room_name=ROOM, base_url=url), token=token)
    return RoomClient(protocol=protocol)


async def through_server(url: str, text: str, interval: float, *, as_text: bool) -> tuple[float, float]:
    """Edit-to-remote-visible p50 and p99 (ms) for typing ``text`` with ``interval`` s between keys."""
    path = f"{'text' if as_text else 'attribute'}.doc"
    async with _client(url, "typist") as typist_room, _client(url, "watcher") as watcher_room:
        await typist_room.schemas.put("doc", SCHEMA)
        typist = await typist_room.sync.open(path)
        await typist.synchronized
        element: Element = typist.root.append_child(
            "p" if as_text else "msg", None if as_text else {"text": ""}
        )
        watcher = await watcher_room.sync.open(path)
        await watcher.synchronized
        while watcher.get_element(element.id) is None:
            await asyncio.sleep(0.001)
        sent: list[float] = []
        seen: list[float] = []
        done = asyncio.Event()

        def on_change(event: DocumentEvent) -> None:
            now = time.perf_counter()
            if isinstance(event, TextChanged):
                visible = len(event.element.text)
            elif isinstance(event, AttributeChanged):
                visible = len(event.new_value or "")
            else:
                return
            while len(seen) < visible:
                seen.append(now)
            if len(seen) == len(text):
                done.set()

        watcher.observe(on_change)
        for end, char in enumerate(text, start=1):
            if as_text:
                element.insert_text(end - 1, char)
            else:
                element.set_attribute("text", text[:end])
            sent.append(time.perf_counter())
            await asyncio.sleep(interval)
        async with asyncio.timeout(120):
            await done.wait()
    latencies = sorted((seen[i] - sent[i]) * 1000 for i in range(len(text)))
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


# -- report ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keystrokes", type=int, default=10_000)
    parser.add_argument("--interval-ms", type=float, default=2.0, help="pause between keystrokes (server)")
    parser.add_argument("--skip-server", action="store_true", help="only the in-process figures")
    add_summary_argument(parser)
    args = parser.parse_args()
    text = keystrokes(args.keystrokes)
    console = Console(width=110)
    runs = {"raw pycrdt XmlText.insert (reference)": raw_pycrdt(text)}
    runs["mesh-tools Element.insert_text"] = mesh_text(text)
    runs["rewrite a string attribute"] = mesh_attribute(text)
    reference = runs["raw pycrdt XmlText.insert (reference)"]
    table = Table(title=f"typing {len(text):,} characters in process, per keystroke")
    for column in ("way", "typist µs", "x raw", "watcher µs", "x raw", "bytes sent"):
        table.add_column(column, justify="left" if column == "way" else "right")
    for name, run in runs.items():
        table.add_row(
            name,
            f"{run.edit_us:.1f}",
            f"{run.edit_us / reference.edit_us:.2f}",
            f"{run.apply_us:.1f}",
            f"{run.apply_us / reference.apply_us:.2f}",
            f"{run.update_bytes:,}",
        )
    console.print(table)
    ratio = runs["mesh-tools Element.insert_text"].edit_us / reference.edit_us
    console.print(
        f"target: text typist cost <= 3x raw pycrdt: {ratio:.2f}x ({'met' if ratio <= 3 else 'MISSED'})"
    )
    typed = runs["mesh-tools Element.insert_text"]
    record(
        args.summary,
        [
            at_most(
                Topic.TYPING,
                f"typist cost per keystroke, {len(text):,} keystrokes",
                typed.edit_us,
                reference.edit_us,
                factor=3,
                unit="µs",
                reference_label="raw pycrdt XmlText.insert",
            )
        ],
    )
    if args.skip_server:
        return
    latency = Table(
        title=f"edit-to-remote-visible through the room server, one key every {args.interval_ms:g} ms"
    )
    for column in ("way", "p50 ms", "p99 ms"):
        latency.add_column(column, justify="left" if column == "way" else "right")
    p99s = []  # text, then the attribute
    with tempfile.TemporaryDirectory() as data_dir, server_process(data_dir) as url:
        for name, as_text in (("mesh-tools text", True), ("rewrite a string attribute", False)):
            p50, p99 = asyncio.run(through_server(url, text, args.interval_ms / 1000, as_text=as_text))
            latency.add_row(name, f"{p50:.2f}", f"{p99:.2f}")
            p99s.append(p99)
    console.print(latency)
    record(
        args.summary,
        [
            context(
                Topic.TYPING,
                f"edit→remote visible p99 through the server, a key every {args.interval_ms:g} ms",
                p99s[0],
                p99s[1],
                unit="ms",
                reference_label="rewriting an attribute",
            )
        ],
    )


if __name__ == "__main__":
    main()
