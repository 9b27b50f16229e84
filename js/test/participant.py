"""A Python participant that the Node tests drive: one JSON command per stdin line, one JSON line back.

Usage: participant.py ROOM PATH NAME (with MESH_TOOLS_URL and MESH_TOOLS_SECRET set). Commands:
``{"append": {"tag", "attributes"}}`` appends under the root and flushes; ``{"wait": N}`` waits until the
root has N children; ``{"presence": {...}}`` publishes awareness;
``{"peers": N}`` waits until N other participants are present and prints their states.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from mesh_tools.client import RoomClient, SyncedDocument, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.tokens import ParticipantToken


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
        await until(lambda: len(doc.root.get_children()) == count)
        return doc.to_json()
    if "find" in command:
        tag, attributes = command["find"]["tag"], command["find"]["attributes"]
        await until(lambda: has_child(doc, tag, attributes))
        return doc.to_json()
    if "presence" in command:
        doc.awareness.set_local_state(command["presence"])
        return {"ok": True}
    count = command["peers"]
    await until(lambda: len(peers(doc)) >= count)
    return peers(doc)


async def main(room: str, path: str, name: str) -> None:
    token = ParticipantToken.for_room(name=name, room=room).to_jwt(token=os.environ["MESH_TOOLS_SECRET"])
    url = websocket_room_url(room_name=room, base_url=os.environ["MESH_TOOLS_URL"])
    async with RoomClient(protocol=WebSocketClientProtocol(url=url, token=token)) as client:
        doc = await client.sync.open(path)
        await doc.synchronized
        answer({"ready": True})
        # Until its input ends; leaving the block closes the document, flushing its edits.
        while line := await asyncio.to_thread(sys.stdin.readline):
            answer(await handle(client, doc, json.loads(line)))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
