"""Big reads answered from the stored log in the worker process (mesh_tools/server/_stored_reads.py):
a client opening a big document with nothing of it, and ``sync.describe`` of a big document, get what
the replica holds, changes not yet committed to disk and changes made while the answer is built
included; an opener gets its Step2 before any update. Stall figures are in bench/isolation.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, YMessageType, YSyncMessageType, create_sync_message
from websockets.asyncio.client import connect

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer, SQLiteStorage, _room, _stored_reads
from mesh_tools.server._worker_process import run_in_worker_process
from mesh_tools.sync import (
    Request,
    Response,
    asks_for_everything,
    decode_binary,
    decode_text,
    encode_binary,
    encode_text,
    parse_sync_message,
)

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawClient, RawConnector, RawDocument

PATH = "stored.doc"
#: Over the size past which a document is read from storage (``_INLINE_ELEMENTS``).
BIG = 2_500


@contextlib.asynccontextmanager
async def _server(tmp_path: Path, secret: str, *, keep_loaded: float = 0.0) -> AsyncIterator[RoomServer]:
    # Commits wait a second to share a batch: whatever is read from storage must have been flushed first.
    storage = SQLiteStorage(tmp_path / "rooms.sqlite3", commit_interval=1.0)
    async with RoomServer(storage=storage, secret=secret, keep_loaded=keep_loaded) as server:
        await storage.put_schema(ROOM, "doc", DOC_SCHEMA.to_json())
        yield server


async def _open_big(client: RawClient) -> RawDocument:
    """PATH opened and filled with BIG paragraphs in one edit."""
    writer = await client.open(PATH)
    with writer.doc.transaction():
        for i in range(BIG):
            writer.doc.root.append_child("p", {"text": f"p{i}"})
    return writer


@dataclass
class _Opener:
    """A new replica opening PATH over a bare connection: the sync messages it got, in order."""

    kinds: list[YSyncMessageType] = field(default_factory=list)
    replica: MeshDocument = field(default_factory=lambda: MeshDocument(schema=DOC_SCHEMA))
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, url: str, token: str, *, until: Callable[[MeshDocument], bool]) -> None:
        """Open with an empty state vector; read until ``until(replica)`` holds after the Step2."""
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            connect(f"{url}/rooms/{ROOM}", additional_headers=headers, max_size=None) as connection,
            asyncio.timeout(20),
        ):
            await connection.send(encode_text(Request(1, "sync.open", {"path": PATH, "create": False})))
            channel: int | None = None
            while not (self.answered.is_set() and until(self.replica)):
                try:  # cancelling recv loses nothing (websockets' documentation)
                    frame = await asyncio.wait_for(connection.recv(), 0.05)
                except TimeoutError:
                    continue  # the condition may hold now without another frame
                if isinstance(frame, str):
                    message = decode_text(frame)
                    if isinstance(message, Response) and message.id == 1:
                        assert message.result is not None
                        channel = message.result["channel"]
                        await connection.send(encode_binary(channel, create_sync_message(Doc())))
                    continue
                number, body = decode_binary(frame)
                if number != channel or body[0] != YMessageType.SYNC:
                    continue
                sync = parse_sync_message(body)
                if sync.kind is not YSyncMessageType.SYNC_STEP1:
                    self.kinds.append(sync.kind)
                    self.replica.apply_update(sync.payload, check=False)
                    self.answered.set()


def test_only_the_step1_of_a_replica_that_holds_nothing_asks_for_everything() -> None:
    assert asks_for_everything(create_sync_message(Doc()))
    # A new MeshDocument already holds its root.
    assert not asks_for_everything(create_sync_message(MeshDocument(schema=DOC_SCHEMA).ydoc))


async def test_openers_with_nothing_get_step2_first_and_every_change_made_while_they_wait(
    tmp_path: Path, secret: str, raw_client: RawConnector, make_token: MakeToken
) -> None:
    async with _server(tmp_path, secret) as server, raw_client(server.url) as writer_client:
        writer = await _open_big(writer_client)

        openers = [_Opener() for _ in range(3)]
        writing = True
        opening = asyncio.gather(
            *(
                opener.run(
                    server.url,
                    make_token(),
                    until=lambda replica: not writing and len(replica) == len(writer.doc),
                )
                for opener in openers
            )
        )
        # Edits every millisecond until every opener has its answer: some land while it is read.
        # No flush: the first ones are in the commit batch, not on disk, when the openers arrive.
        written = 0
        while not all(opener.answered.is_set() for opener in openers):
            writer.doc.root.append_child("p", {"text": f"while opening {written}"})
            written += 1
            await asyncio.sleep(0.001)
        writing = False
        await opening
        expected = writer.doc.to_json(include_ids=True)
        assert len(writer.doc) == BIG + written + 1
        for opener in openers:
            assert opener.kinds[0] is YSyncMessageType.SYNC_STEP2
            assert YSyncMessageType.SYNC_STEP2 not in opener.kinds[1:]
            assert opener.replica.to_json(include_ids=True) == expected


async def test_a_big_describe_holds_unflushed_changes_and_follows_later_ones(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with _server(tmp_path, secret) as server, raw_client(server.url) as client:
        writer = await _open_big(client)
        # The edit frames leave before the request on this connection: the describe comes after them.
        first, second = await asyncio.gather(
            client.request("sync.describe", path=PATH), client.request("sync.describe", path=PATH)
        )
        assert first == second == {"path": PATH, "json": writer.doc.to_json(include_ids=True)}
        writer.doc.root.append_child("p", {"text": "later"})
        third = await client.request("sync.describe", path=PATH)
        assert third["json"] == writer.doc.to_json(include_ids=True)
        assert json.dumps(third["json"]).count('"later"') == 1


async def test_a_describe_that_loads_a_big_document_is_built_once_beside_the_load(
    tmp_path: Path, secret: str, raw_client: RawConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _server(tmp_path, secret) as server, raw_client(server.url) as client:
        writer = await _open_big(client)
        await client.request("sync.flush", channel=writer.channel)
        expected = {"path": PATH, "json": writer.doc.to_json(include_ids=True)}
    described: list[Callable[..., object]] = []
    describing = threading.Event()
    overlapped: list[bool] = []

    def describe(function: Callable[[tuple[bytes, ...]], bytes], arguments: tuple[bytes, ...]) -> bytes:
        described.append(function)
        describing.set()
        return run_in_worker_process(function, arguments)

    real_replay = _room._replay

    def replay(*arguments: Any) -> Any:
        loaded = real_replay(*arguments)
        # Holds the load until the description has started: it never does if it waits for the load.
        overlapped.append(describing.wait(timeout=5))
        return loaded

    monkeypatch.setattr(_stored_reads, "run_in_worker_process", describe)
    monkeypatch.setattr(_room, "_replay", replay)
    # A new server: nobody has the document loaded, and it stays loaded a while after its last use.
    async with _server(tmp_path, secret, keep_loaded=30.0) as server, raw_client(server.url) as client:
        assert await client.request("sync.describe", path=PATH) == expected
        assert PATH in server.rooms[ROOM].documents
        assert await client.request("sync.describe", path=PATH) == expected
    # One description of the stored rows, begun while they were replayed; the second describe was the first's.
    assert overlapped == [True]
    assert described == [_stored_reads._describe]


async def test_big_reads_fall_back_to_the_replica_when_storage_has_lost_the_document(
    tmp_path: Path, secret: str, raw_client: RawConnector, make_token: MakeToken
) -> None:
    async with _server(tmp_path, secret) as server, raw_client(server.url) as client:
        writer = await _open_big(client)
        await client.request("sync.flush", channel=writer.channel)
        # Behind the server's back: its storage no longer has the document it holds loaded.
        database = tmp_path / "rooms.sqlite3"
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            row = db.execute("SELECT * FROM snapshots WHERE path = ?", (PATH,)).fetchone()
            db.execute("DELETE FROM snapshots WHERE path = ?", (PATH,))
        expected = writer.doc.to_json(include_ids=True)
        described = await client.request("sync.describe", path=PATH)
        assert described == {"path": PATH, "json": expected}
        opener = _Opener()
        await opener.run(server.url, make_token(), until=lambda replica: True)
        assert opener.kinds == [YSyncMessageType.SYNC_STEP2]
        assert opener.replica.to_json(include_ids=True) == expected
        with contextlib.closing(sqlite3.connect(database)) as db, db:  # for the server's closing fold
            db.execute(f"INSERT INTO snapshots VALUES ({', '.join('?' * len(row))})", row)
