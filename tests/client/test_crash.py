"""SIGKILL a `mesh-tools serve` process during a burst of edits: every flushed change survives the crash,
and the client's resync after the restart brings in the rest, once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_tools.errors import ConnectionLostError, RequestTimeoutError

from ..support import NOTES, ClientFactory, ServeProcess, texts, wait_until

ROOM = "crash"
PATH = "burst.notes"


@pytest.mark.slow
async def test_flushed_edits_survive_sigkill_and_the_rest_resync(
    tmp_path: Path, secret: str, room_client: ClientFactory
) -> None:
    server = ServeProcess(tmp_path / "data", env={"MESH_TOOLS_SECRET": secret})
    await server.start()
    try:
        async with room_client(
            server.url, ROOM, "writer", request_timeout=2, max_reconnect_delay=0.2
        ) as writer:
            await writer.schemas.put("notes", NOTES)
            document = await writer.sync.open(PATH)
            await document.synchronized

            confirmed = 0  # edits 0..confirmed-1 were durably acknowledged by a flush
            made = 0
            crashed = False
            while not crashed or made < confirmed + 200:
                document.root.append_child("note", {"text": str(made)})
                made += 1
                if made % 25 == 0 and not crashed:
                    try:
                        await writer.sync.flush(PATH)
                        confirmed = made
                    except (ConnectionLostError, RequestTimeoutError):
                        crashed = True
                    if confirmed >= 500 and not crashed:
                        server.kill()  # mid-burst: the flush of the next batch is in flight when it lands
            assert crashed and confirmed >= 500

            await server.start()  # same port, same data directory
            async with room_client(server.url, ROOM, "reader") as reader:
                survived = {
                    int(item["note"]["text"]) for item in (await reader.sync.describe(PATH))["notes"]["items"]
                }
            assert set(range(confirmed)) <= survived, "a flushed edit was lost"

            await writer.sync.flush(PATH, timeout=30)
            async with room_client(server.url, ROOM, "reader") as reader:
                after = [
                    item["note"]["text"] for item in (await reader.sync.describe(PATH))["notes"]["items"]
                ]
            assert sorted(after, key=int) == [str(i) for i in range(made)], "resync lost or doubled edits"
            await wait_until(
                lambda: texts(document) == after, what="the writer's replica holds every edit, once"
            )
    finally:
        await server.stop()
