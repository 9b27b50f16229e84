"""A Python participant that the Node tests drive: one JSON command per stdin line, one JSON line back.

Usage: participant.py ROOM PATH NAME [client|provider] (with MESH_TOOLS_URL and MESH_TOOLS_SECRET set):
``client`` is mesh_tools.client on the multiplexed route, ``provider`` pycrdt's own Provider on the
y-websocket route (append, wait and presence only). Commands:
``{"append": {"tag", "attributes"}}`` appends under the root and flushes; ``{"wait": N}`` waits until the
root has N children; ``{"presence": {...}}`` publishes awareness;
``{"peers": [name, ...]}`` waits until participants with those user names are present and prints
every other participant's state; ``{"insert_text": {"id", "at", "text"}}`` types into an element's
collaborative text and ``{"text": {"id", "equals"}}`` waits until that text reads ``equals`` (or 15 s)
and prints it; ``{"marks": {"id", "equals"}}`` does the same for its marks (as document JSON lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pycrdt import Awareness, Provider, YMessageType, create_awareness_message
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mesh_tools.client import RoomClient, SyncedDocument, WebSocketClientProtocol
from mesh_tools.document import MeshDocument
from mesh_tools.helpers import websocket_room_url
from mesh_tools.schema import MeshSchema
from mesh_tools.tokens import ParticipantToken

SCHEMA_FILE = Path(__file__).parent / "fixtures" / "doc.schema.json"


def answer(value: Any) -> None:
    print(json.dumps(value), flush=True)


async def until(condition: Any) -> None:
    async with asyncio.timeout(15):
        while not condition():
            await asyncio.sleep(0.02)


def has_child(doc: SyncedDocument, tag: str, attributes: dict[str, Any]) -> bool:
    return any(
        child.tag_name == tag and all(child.get_attribute(k) == v for k, v in attributes.items())
        for child in doc.root.get_children()
    )


def peers(doc: SyncedDocument) -> list[dict[str, Any]]:
    return list(doc.peers.values())


async def handle(client: RoomClient, doc: SyncedDocument, command: dict[str, Any]) -> Any:
    if "append" in command:
        element = doc.root.append_child(command["append"]["tag"], command["append"]["attributes"])
        await client.sync.flush(doc.path)
        return {"id": element.id}
    if "wait" in command:
        count = command["wait"]
        with contextlib.suppress(TimeoutError):  # answer what is there, so the test shows the difference
            await until(lambda: len(doc.root.get_children()) == count)
        return doc.to_json()
    if "find" in command:
        tag, attributes = command["find"]["tag"], command["find"]["attributes"]
        await until(lambda: has_child(doc, tag, attributes))
        return doc.to_json()
    if "insert_text" in command:
        edit = command["insert_text"]
        doc.element_by_id(edit["id"]).insert_text(edit["at"], edit["text"])
        return {"ok": True}
    if "text" in command:
        wanted = command["text"]
        with contextlib.suppress(TimeoutError):  # answer what is there, so the test shows the difference
            await until(lambda: doc.element_by_id(wanted["id"]).text == wanted["equals"])
        return {"text": doc.element_by_id(wanted["id"]).text}
    if "marks" in command:
        wanted = command["marks"]

        def marks() -> list[dict[str, Any]]:
            return [span.to_json() for span in doc.element_by_id(wanted["id"]).text_marks()]

        with contextlib.suppress(TimeoutError):
            await until(lambda: marks() == wanted["equals"])
        return {"marks": marks()}
    if "presence" in command:
        doc.awareness.set_local_state(command["presence"])
        return {"ok": True}
    names = set(command["peers"])
    await until(lambda: names <= {state.get("user", {}).get("name") for state in peers(doc)})
    return peers(doc)


class WebSocketChannel:
    """pycrdt's ``Channel`` over a websockets connection; awareness from the server is not read."""

    def __init__(self, connection: ClientConnection, path: str) -> None:
        self.connection = connection
        self.path = path

    def __aiter__(self) -> WebSocketChannel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            try:
                message = await self.connection.recv()
            except ConnectionClosed:
                raise StopAsyncIteration from None
            if isinstance(message, bytes) and message[0] == YMessageType.SYNC:
                return message

    async def send(self, message: bytes) -> None:
        await self.connection.send(message)

    async def recv(self) -> bytes:
        return await self.__anext__()


async def provider_participant(room: str, path: str, name: str, token: str) -> None:
    """pycrdt's own Provider on the y-websocket route: append, wait and presence."""
    base = os.environ["MESH_TOOLS_URL"]
    url = f"{base}/rooms/{room}/docs/{quote(path, safe='')}?token={token}"
    async with connect(url) as connection:
        doc = MeshDocument(schema=MeshSchema.from_json(json.loads(SCHEMA_FILE.read_text())))
        channel = WebSocketChannel(connection, path)
        presence = Awareness(doc.ydoc)
        async with Provider(doc.ydoc, channel) as provider:
            await provider.synced.wait()
            answer({"ready": True})
            while line := await asyncio.to_thread(sys.stdin.readline):
                command = json.loads(line)
                if "append" in command:
                    element = doc.root.append_child(command["append"]["tag"], command["append"]["attributes"])
                    answer({"id": element.id})
                elif "wait" in command:
                    count = command["wait"]
                    await until(lambda count=count: len(doc.to_json()["doc"].get("children", [])) == count)
                    answer(doc.to_json())
                else:
                    presence.set_local_state(command["presence"])
                    update = presence.encode_awareness_update([doc.ydoc.client_id])
                    await connection.send(create_awareness_message(update))
                    answer({"ok": True})


async def main(room: str, path: str, name: str, via: str = "client") -> None:
    token = ParticipantToken.for_room(name=name, room=room).to_jwt(token=os.environ["MESH_TOOLS_SECRET"])
    if via == "provider":
        await provider_participant(room, path, name, token)
        return
    url = websocket_room_url(room_name=room, base_url=os.environ["MESH_TOOLS_URL"])
    async with RoomClient(protocol=WebSocketClientProtocol(url=url, token=token)) as client:
        doc = await client.sync.open(path)
        await doc.synchronized
        answer({"ready": True})
        # Until its input ends; leaving the block closes the document, flushing its edits.
        while line := await asyncio.to_thread(sys.stdin.readline):
            answer(await handle(client, doc, json.loads(line)))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
