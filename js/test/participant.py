"""A Python participant that the Node tests drive: one JSON command per stdin line, one JSON line back.

Usage: participant.py ROOM PATH NAME (with MESH_TOOLS_URL and MESH_TOOLS_SECRET set). Commands:
``{"append": {"tag", "attributes"}}`` appends under the root and flushes; ``{"wait": N}`` waits until the
root has N children; ``{"json": true}`` prints the document; ``{"presence": {...}}`` publishes awareness;
``{"peers": N}`` waits until N other participants are present and prints their states.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.tokens import ParticipantToken


def answer(value: Any) -> None:
    print(json.dumps(value), flush=True)


async def until(condition: Any) -> None:
    async with asyncio.timeout(15):
        while not condition():
            await asyncio.sleep(0.02)


async def main(room: str, path: str, name: str) -> None:
    token = ParticipantToken.for_room(name=name, room=room).to_jwt(token=os.environ["MESH_TOOLS_SECRET"])
    url = websocket_room_url(room_name=room, base_url=os.environ["MESH_TOOLS_URL"])
    async with RoomClient(protocol=WebSocketClientProtocol(url=url, token=token)) as client:
        doc = await client.sync.open(path)
        await doc.synchronized
        answer({"ready": True})
        while line := await asyncio.to_thread(sys.stdin.readline):
            command = json.loads(line)
            if "append" in command:
                element = doc.root.append_child(command["append"]["tag"], command["append"]["attributes"])
                await client.sync.flush(path)
                answer({"id": element.id})
            elif "wait" in command:
                await until(lambda: len(doc.root.get_children()) == command["wait"])
                answer(doc.to_json())
            elif "json" in command:
                answer(doc.to_json())
            elif "presence" in command:
                doc.awareness.set_local_state(command["presence"])
                answer({"ok": True})
            elif "peers" in command:
                me = doc.ydoc.client_id
                await until(lambda: len([c for c in doc.awareness.states if c != me]) >= command["peers"])
                answer([state for c, state in doc.awareness.states.items() if c != me])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
