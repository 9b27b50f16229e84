"""Big frames are handled off the event loop (docs/adr/0017-big-frames-off-the-event-loop.md) with the
same results as small ones on it: big updates from two rooms at once land, are relayed and stored; a big
update the guard refuses changes nothing anywhere; one that breaks the schema is mended; the document is
consistent for everyone who reads it meanwhile; bytes read in slices keep their frames in order; a
document created from big JSON is built while the event loop serves others.
Latency figures are in bench/isolation.py, not here."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, create_update_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.server import RoomServer, SQLiteStorage
from mesh_tools.server._room import Room
from mesh_tools.server._sliced_reading import SLICE_BYTES, _HandingOverReader
from mesh_tools.server._worker_threads import SWITCH_INTERVAL, FastGilSwitching
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, ROOM, RawConnector

OTHER_ROOM = "lab2"
#: Paragraphs whose text makes an update of ~600 KiB: far over what is applied on the event loop.
BIG_TEXT = "x" * 3_000
BIG_COUNT = 200


def _big_edit(doc: MeshDocument, tag: str) -> None:
    with doc.transaction():
        for i in range(BIG_COUNT):
            doc.root.append_child("p", {"text": f"{tag} {i} {BIG_TEXT}"})


def _with_second_root(full: bytes, since: bytes) -> bytes:
    """What ``full`` adds to ``since``, plus an imposter root beside the real one (refused whole)."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(full)
    ydoc.get(FRAGMENT_NAME, type=XmlFragment).children.append(XmlElement("doc", {"$id": "imposter"}))
    return ydoc.get_update(since)


async def test_big_updates_from_two_rooms_at_once_land_and_are_stored(
    tmp_path: Path, secret: str, raw_client: RawConnector
) -> None:
    async with RoomServer(data_dir=tmp_path, secret=secret) as server:
        for room in (ROOM, OTHER_ROOM):
            await server.storage.put_schema(room, "doc", DOC_SCHEMA.to_json())
        async with (
            raw_client(server.url) as alice,
            raw_client(server.url) as bob,
            raw_client(server.url, room=OTHER_ROOM) as carol,
            raw_client(server.url, room=OTHER_ROOM) as dave,
        ):
            a, b = await alice.open("big.doc"), await bob.open("big.doc")
            c, d = await carol.open("big.doc"), await dave.open("big.doc")
            _big_edit(a.doc, "alice")
            _big_edit(c.doc, "carol")
            assert len(a.doc.get_update()) > 512 * 2**10
            await asyncio.gather(
                b.wait_for(lambda doc: len(doc) == BIG_COUNT + 1, what="alice's paragraphs", timeout=30),
                d.wait_for(lambda doc: len(doc) == BIG_COUNT + 1, what="carol's paragraphs", timeout=30),
            )
            await asyncio.gather(
                alice.request("sync.flush", channel=a.channel), carol.request("sync.flush", channel=c.channel)
            )
            assert b.doc.to_json(include_ids=True) == a.doc.to_json(include_ids=True)
            assert d.doc.to_json(include_ids=True) == c.doc.to_json(include_ids=True)
            expected = {ROOM: a.doc.to_json(include_ids=True), OTHER_ROOM: c.doc.to_json(include_ids=True)}
    async with RoomServer(data_dir=tmp_path, secret=secret) as restarted:
        for room, json in expected.items():
            async with raw_client(restarted.url, room=room) as reader:
                described = await reader.request("sync.describe", path="big.doc")
                assert described["json"] == json


async def test_a_big_update_the_guard_refuses_changes_nothing_anywhere(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as mallory:
        honest = await alice.open("target.doc")
        honest.doc.root.append_child("p", {"text": "honest content"})
        attacker = await mallory.open("target.doc")
        await attacker.wait_for(lambda doc: len(doc) == 2, what="the honest paragraph")
        before = honest.doc.to_json(include_ids=True)
        # Big paragraphs and, in the same update, a second root: refused whole, paragraphs included.
        forged = MeshDocument(schema=DOC_SCHEMA)
        forged.apply_update(attacker.doc.get_update())
        state = forged.get_state()
        _big_edit(forged, "mallory")
        update = _with_second_root(forged.get_update(), state)
        assert len(update) > 512 * 2**10
        await mallory.send_frame(attacker.channel, create_update_message(update))
        push = await mallory.next_push(timeout=30)
        assert push.type == PushType.ERROR and push.fields["error"]["code"] == "update_refused"
        honest.doc.root.append_child("p", {"text": "after"})
        await attacker.wait_for(lambda doc: len(doc) == 3, what="the paragraph written after")
        await alice.request("sync.flush", channel=honest.channel)
        described = await alice.request("sync.describe", path="target.doc")
        assert alice.pushes.empty()
    assert described["json"]["doc"]["children"][:1] == before["doc"]["children"]
    assert described["json"] == honest.doc.to_json(include_ids=True)
    assert len(honest.doc) == 3


async def test_a_big_update_that_breaks_the_schema_is_mended_and_the_sender_told(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("mended.doc")
        b = await bob.open("mended.doc")
        # Written with plain pycrdt: paragraphs of a string size and a tag no schema has.
        ydoc: Doc[Any] = Doc()
        ydoc.apply_update(a.doc.get_update())
        root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
        assert isinstance(root, XmlElement)
        state = ydoc.get_state()
        with ydoc.transaction():
            for i in range(BIG_COUNT):
                root.children.append(XmlElement("p", {"$id": f"ok{i}", "text": BIG_TEXT}))
            root.children.append(XmlElement("p", {"$id": "badsize", "size": "big"}))
            root.children.append(XmlElement("table", {"$id": "badtag"}))
        update = ydoc.get_update(state)
        a.doc.apply_update(update)  # alice's replica holds what she sent, as a writer's would
        await alice.send_frame(a.channel, create_update_message(update))
        push = await alice.next_push(timeout=30)
        assert push.type == PushType.SYNC_REJECTED
        assert {v["element_id"] for v in push.fields["violations"]} >= {"badsize", "badtag"}
        await b.wait_for(lambda doc: len(doc) == BIG_COUNT + 2, what="the mended paragraphs", timeout=30)
        await a.wait_for(lambda doc: doc.get_element("badtag") is None, what="the repair", timeout=30)
        assert b.doc.validate() == [] and a.doc.validate() == []
        assert b.doc.to_json(include_ids=True) == a.doc.to_json(include_ids=True)
        assert "size" not in b.doc.element_by_id("badsize").attributes


async def test_readers_during_a_big_update_see_it_whole_or_not_at_all(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("read.doc")
        b = await bob.open("read.doc")
        _big_edit(a.doc, "alice")
        # Sent while the update is still being applied: both answers are whole states.
        described, opened = await asyncio.gather(
            bob.request("sync.describe", path="read.doc"), bob.open("read.doc")
        )
        assert len(described["json"]["doc"].get("children", [])) in (0, BIG_COUNT)
        await opened.wait_for(lambda doc: len(doc) == BIG_COUNT + 1, what="the whole update", timeout=30)
        await b.wait_for(lambda doc: len(doc) == BIG_COUNT + 1, what="the whole update", timeout=30)
        assert opened.doc.to_json(include_ids=True) == a.doc.to_json(include_ids=True)


async def test_frames_sent_in_one_burst_are_read_in_slices_in_order(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as bob:
        a = await alice.open("burst.doc")
        b = await bob.open("burst.doc")
        # Many small edits queued back to back, and one frame several slices long among them.
        for i in range(300):
            a.doc.root.append_child("p", {"text": f"{i}", "size": i})
            if i == 150:
                a.doc.root.append_child("p", {"text": "y" * (3 * SLICE_BYTES), "size": -1})
        await b.wait_for(lambda doc: len(doc) == 302, what="every edit", timeout=30)
    sizes = [child.attributes["size"] for child in b.doc.root.get_children()]
    assert sizes == [*range(151), -1, *range(151, 300)]


def test_the_switch_interval_is_lowered_while_a_server_needs_it_and_restored_after() -> None:
    before = sys.getswitchinterval()
    FastGilSwitching.acquire()
    FastGilSwitching.acquire()
    FastGilSwitching.release()
    # CPython keeps the interval in whole microseconds.
    assert sys.getswitchinterval() == pytest.approx(min(before, SWITCH_INTERVAL), abs=1e-6)
    FastGilSwitching.release()
    assert sys.getswitchinterval() == before


async def test_a_big_create_is_built_while_the_event_loop_runs_other_tasks(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "rooms.sqlite3")
    await storage.open()
    room = Room(ROOM, storage)
    children = [{"p": {"text": f"p{i}"}} for i in range(20_000)]
    creating = asyncio.create_task(
        room.create("big.doc", data={"doc": {"children": children}}, schema=DOC_SCHEMA)
    )
    # CPU time, not wall time: what the event loop's thread itself spent between two turns of this loop.
    busiest, started = 0.0, time.process_time()
    while not creating.done():
        before = time.thread_time()
        await asyncio.sleep(0)
        busiest = max(busiest, time.thread_time() - before)
    await creating
    # Built on the loop, checking and writing 20k elements was one step: most of the create's CPU.
    assert busiest * 4 < time.process_time() - started
    stored = await storage.load_document(ROOM, "big.doc")
    assert stored is not None
    loaded = MeshDocument(schema=DOC_SCHEMA)
    loaded.apply_updates(stored.updates)
    assert len(loaded.root.get_children()) == len(children)
    await storage.close()


async def test_clients_opening_a_big_document_with_nothing_all_get_its_current_state(
    server: RoomServer, raw_client: RawConnector
) -> None:
    # Big enough that the whole state is encoded once per version and shared by the openers.
    async with raw_client(server.url) as writer:
        doc = await writer.open("shared-state.doc")
        with doc.doc.transaction():
            for i in range(2_500):
                doc.doc.root.append_child("p", {"text": f"p{i}"})
        await writer.request("sync.flush", channel=doc.channel)
        async with raw_client(server.url) as one, raw_client(server.url) as two:
            first, second = await asyncio.gather(
                one.open("shared-state.doc", create=False), two.open("shared-state.doc", create=False)
            )
            assert len(first.doc) == len(second.doc) == 2_501
            assert first.doc.to_json() == doc.doc.to_json()
        # A change since: the next opener gets it, not the state encoded before it.
        doc.doc.root.append_child("p", {"text": "later"})
        await writer.request("sync.flush", channel=doc.channel)
        async with raw_client(server.url) as three:
            third = await three.open("shared-state.doc", create=False)
            assert len(third.doc) == 2_502
            assert third.doc.to_json() == doc.doc.to_json()


def test_a_big_read_hands_over_the_buffer_and_keeps_what_follows() -> None:
    payload = bytes(range(256)) * (2 * 2**20 // 256)
    reader = _HandingOverReader()
    reading = reader.read_exact(len(payload))
    next(reading)  # waits for the bytes
    reader.feed_data(payload[: 2**20])
    next(reading)
    buffer = reader.buffer
    reader.feed_data(payload[2**20 :] + b"next frame")
    with pytest.raises(StopIteration) as done:
        next(reading)
    assert done.value.value == payload
    assert done.value.value is buffer  # handed over, not copied out
    assert reader.buffer == b"next frame"
    small = reader.read_exact(4)
    with pytest.raises(StopIteration) as done:
        next(small)
    assert done.value.value == b"next"


def test_a_big_read_cut_short_by_the_end_of_the_stream_fails_as_websockets_does() -> None:
    reader = _HandingOverReader()
    reading = reader.read_exact(2 * 2**20)
    next(reading)
    reader.feed_data(b"x" * 2**20)
    reader.feed_eof()
    with pytest.raises(EOFError):
        next(reading)


async def test_a_big_frame_and_the_frames_right_behind_it_all_land(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url, max_size=None) as bob:
        a, b = await alice.open("big.doc"), await bob.open("big.doc")
        with a.doc.transaction():
            for i in range(2 * BIG_COUNT):
                a.doc.root.append_child("p", {"text": f"{i} {BIG_TEXT}"})
        assert len(a.doc.get_update()) > 2**20
        for i in range(3):  # sent right behind it, while the server still reads the big one
            a.doc.root.append_child("p", {"text": f"after {i}"})
        await b.wait_for(lambda doc: len(doc) == 2 * BIG_COUNT + 4, what="every paragraph", timeout=30)
        await alice.request("sync.flush", channel=a.channel)
        assert b.doc.to_json(include_ids=True) == a.doc.to_json(include_ids=True)
