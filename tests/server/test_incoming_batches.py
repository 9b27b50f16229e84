"""Frames that arrive together are handled as one batch: a run of one writer's updates is merged, checked,
applied, stored and relayed once; a bad update among them is refused alone, as if sent alone."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlFragment, create_update_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.server._frame_writer import send_frames
from mesh_tools.sync import PushType, encode_binary

from ..support import ROOM, RawConnector, RawDocument


def _paragraphs(doc: MeshDocument) -> list[str]:
    return [str(child.get_attribute("text")) for child in doc.root.get_children()]


def _detached_copy(raw: RawDocument) -> tuple[MeshDocument, list[bytes]]:
    """A replica of ``raw`` whose edits are collected, not sent: the test sends them at once."""
    copy = MeshDocument(schema=raw.doc.schema)
    copy.apply_update(raw.doc.get_update())
    edits: list[bytes] = []
    copy.on_update(lambda update, origin: edits.append(update) if origin is None else None)
    return copy, edits


def _deleting_the_root(base: bytes) -> bytes:
    """An update no repair could undo: plain pycrdt deleting the shared root element."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(base)
    state = ydoc.get_state()
    del ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    return ydoc.get_update(state)


async def test_a_run_of_updates_sent_at_once_is_applied_as_one_and_reaches_every_reader(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as writer, raw_client(server.url) as reader:
        mine = await writer.open("run.doc")
        theirs = await reader.open("run.doc")
        live = server.rooms[ROOM].documents["run.doc"]
        transactions: list[Any] = []
        live.doc.on_update(lambda update, origin: transactions.append(origin))
        copy, edits = _detached_copy(mine)
        for i in range(200):
            copy.root.append_child("p", {"text": str(i)})
        # One socket write: the server finds all of them waiting when it reads the first.
        await send_frames(
            writer.connection, [encode_binary(mine.channel, create_update_message(u)) for u in edits]
        )
        await theirs.wait_for(lambda d: len(d) == 201, what="the reader has all 200 paragraphs")
        assert _paragraphs(theirs.doc) == [str(i) for i in range(200)]
        await writer.request("sync.flush", channel=mine.channel)
        described = await writer.request("sync.describe", path="run.doc")
    assert described["json"] == copy.to_json(include_ids=True)
    # Without batches that would be 200 transactions, each stored and relayed on its own.
    assert 1 <= len(transactions) < 20


async def test_a_bad_update_among_good_ones_is_refused_alone_and_its_sender_told(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as mallory, raw_client(server.url) as alice:
        attacker = await mallory.open("mixed.doc")
        honest = await alice.open("mixed.doc")
        copy, edits = _detached_copy(attacker)
        copy.root.append_child("p", {"text": "first"})
        copy.root.append_child("p", {"text": "second"})
        hostile = _deleting_the_root(copy.get_update())
        copy.root.append_child("p", {"text": "third"})
        copy.root.append_child("p", {"text": "fourth"})
        updates = [*edits[:2], hostile, *edits[2:]]
        await send_frames(
            mallory.connection, [encode_binary(attacker.channel, create_update_message(u)) for u in updates]
        )
        push = await mallory.next_push()
        assert push.type == PushType.ERROR
        assert push.fields["error"]["code"] == "update_refused"
        assert push.fields["channel"] == attacker.channel
        everything = ["first", "second", "third", "fourth"]
        await honest.wait_for(lambda d: _paragraphs(d) == everything, what="every good paragraph")
        await mallory.request("sync.flush", channel=attacker.channel)
        described = await alice.request("sync.describe", path="mixed.doc")
        # One refusal, for the one bad update: the good ones around it were applied.
        assert mallory.pushes.empty()
    assert described["json"] == honest.doc.to_json(include_ids=True)
