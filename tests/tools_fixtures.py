"""Schemas and helpers shared by the tool tests (tests/test_tools*.py, test_adapters*.py, test_mcp*.py).

RICH_FIXTURE, the shared MeshAgent fixture, is also what test_schema.py checks round trips against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.server import RoomServer
from mesh_tools.tokens import ParticipantToken

RICH_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "rich-document.schema.json"

#: The seed's example: html > body > p with a string class.
HTML = MeshSchema(
    root_tag_name="html",
    elements=[
        ElementType(tag_name="html", properties=[ChildProperty(name="children", child_tag_names=["body"])]),
        ElementType(tag_name="body", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="class", type="string")]),
    ],
)

#: A task board: enums, booleans, integers and numbers, descriptions, and an ordered child list.
BOARD = MeshSchema(
    root_tag_name="board",
    elements=[
        ElementType(
            tag_name="board",
            description="a kanban board",
            properties=[
                ValueProperty(name="name", type="string"),
                ChildProperty(name="columns", child_tag_names=["column"]),
            ],
        ),
        ElementType(
            tag_name="column",
            properties=[
                ValueProperty(name="name", type="string"),
                ValueProperty(name="wip_limit", type="integer", description="most cards allowed"),
                ChildProperty(name="cards", child_tag_names=["card"]),
            ],
        ),
        ElementType(
            tag_name="card",
            properties=[
                ValueProperty(name="title", type="string"),
                ValueProperty(name="priority", type="string", enum=["low", "medium", "high"]),
                ValueProperty(name="done", type="boolean"),
                ValueProperty(name="estimate", type="number"),
                ChildProperty(name="parts", child_tag_names=["summary", "checklist"], ordered=True),
            ],
        ),
        ElementType(tag_name="summary", properties=[ValueProperty(name="text", type="string")]),
        ElementType(
            tag_name="checklist",
            properties=[ChildProperty(name="checks", child_tag_names=["check"])],
        ),
        ElementType(
            tag_name="check",
            properties=[
                ValueProperty(name="text", type="string"),
                ValueProperty(name="done", type="boolean"),
            ],
        ),
    ],
)


def rich() -> MeshSchema:
    """The shared rich-document fixture (headings, paragraphs, lists, tables)."""
    return MeshSchema.from_file(RICH_FIXTURE)


def loads(text: str) -> Any:
    return json.loads(text)


def args(**values: Any) -> str:
    """Tool arguments as the JSON string a model sends."""
    return json.dumps(values)


SECRET = "tools-live-tests-secret-0123456789abcdef"
ROOM = "tools"


@contextlib.asynccontextmanager
async def live_server(data_dir: Path) -> AsyncIterator[RoomServer]:
    """A room server on 127.0.0.1 whose room ROOM has the html and rich schemas (``.html``, ``.doc``)."""
    async with RoomServer(data_dir=data_dir, secret=SECRET) as running:
        async with participant(running, "setup") as room:
            await room.schemas.put("html", HTML)
            await room.schemas.put("doc", rich())
        yield running


def participant(server: RoomServer, name: str) -> RoomClient:
    token = ParticipantToken.for_room(name=name, room=ROOM).to_jwt(token=SECRET)
    url = websocket_room_url(room_name=ROOM, base_url=server.url)
    return RoomClient(protocol=WebSocketClientProtocol(url=url, token=token))


async def until(condition: Callable[[], bool]) -> None:
    """Wait for replication; the ceiling only turns a hang into a failure."""
    async with asyncio.timeout(20):
        while not condition():
            await asyncio.sleep(0.01)
