"""DocumentSession, the asyncio shell over a ClientChannel: its sender task writes, its waiters wake."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pycrdt import Doc, YMessageType, YSyncMessageType, create_sync_message, merge_updates

from mesh_tools.client import SyncedDocument
from mesh_tools.client._session import DocumentSession
from mesh_tools.errors import (
    ConnectionLostError,
    DocumentNotFoundError,
)
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.sync import decode_binary, parse_sync_message, sync_step2_message

SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p"])]),
        ElementType(tag_name="p", properties=[ValueProperty(name="text", type="string")]),
    ],
)


class _Wire:
    """Stands in for a connection: records sync frames (presence goes to ``awareness``), and can hold
    every send until released."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.awareness: list[bytes] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, frame: bytes) -> None:
        await self.gate.wait()
        channel, message = decode_binary(frame)
        assert channel == 7
        (self.awareness if message[0] == YMessageType.AWARENESS else self.frames).append(message)

    def kinds(self) -> list[YSyncMessageType]:
        return [parse_sync_message(m).kind for m in self.frames]

    def payloads(self, kind: YSyncMessageType) -> list[bytes]:
        return [parse_sync_message(m).payload for m in self.frames if parse_sync_message(m).kind == kind]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _session() -> tuple[DocumentSession, SyncedDocument]:
    session = DocumentSession("a.doc", create=True)
    document = SyncedDocument(path="a.doc", schema=SCHEMA)
    session.bind(document)
    return session, document


def _texts(update_holder: Any) -> list[str]:
    return [p.get_attribute("text") for p in update_holder.root.get_children()]


async def test_handshake_answers_the_server_with_everything_it_lacks() -> None:
    session, document = _session()
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    document.root.append_child("p", {"text": "made offline"})
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    document.root.append_child("p", {"text": "made before the server's Step1"})
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1], "nothing streams before the handshake"

    session.receive(create_sync_message(server.ydoc))
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP2]
    server.apply_update(wire.payloads(YSyncMessageType.SYNC_STEP2)[0])
    assert _texts(server) == ["made offline", "made before the server's Step1"]
    assert await asyncio.wait_for(session.wait_delivered(), 1) == 7

    document.root.append_child("p", {"text": "live"})
    await _settle()
    assert wire.kinds()[-1] == YSyncMessageType.SYNC_UPDATE
    server.apply_update(wire.payloads(YSyncMessageType.SYNC_UPDATE)[0])
    assert _texts(server) == ["made offline", "made before the server's Step1", "live"]


async def test_server_step2_resolves_synchronized() -> None:
    session, document = _session()
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    server.root.append_child("p", {"text": "from the server"})
    session.attach(7, _Wire().send, epoch="e1")
    assert not document.is_synchronized
    session.receive(sync_step2_message(server.get_update(document.get_state())))
    await asyncio.wait_for(document.synchronized, 1)
    assert _texts(document) == ["from the server"]
    session.detach()
    assert not document.is_synchronized, "a dropped connection needs a new handshake"


async def test_updates_queued_behind_a_slow_send_are_merged_in_order() -> None:
    session, document = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    wire.gate.clear()
    document.root.append_child("p", {"text": "0"})
    await _settle()  # the sender now waits inside send() with update 0
    for i in range(1, 50):
        document.root.append_child("p", {"text": str(i)})
    delivered = asyncio.ensure_future(session.wait_delivered())
    await _settle()
    assert not delivered.done()
    wire.gate.set()
    await asyncio.wait_for(delivered, 1)
    updates = wire.payloads(YSyncMessageType.SYNC_UPDATE)
    assert len(updates) == 2, "49 edits queued behind one send go out as one merged update"
    replica = SyncedDocument(path="a.doc", schema=SCHEMA)
    replica.apply_update(merge_updates(*wire.payloads(YSyncMessageType.SYNC_STEP2), *updates))
    assert _texts(replica) == [str(i) for i in range(50)]


async def test_reattach_resends_what_a_dead_connection_swallowed() -> None:
    session, document = _session()
    first = _Wire()
    session.attach(7, first.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    first.gate.clear()
    document.root.append_child("p", {"text": "lost with the connection"})
    await _settle()
    session.detach()
    document.root.append_child("p", {"text": "made while offline"})

    second = _Wire()
    session.attach(7, second.send, epoch="e1")
    server = SyncedDocument(path="a.doc", schema=SCHEMA)
    session.receive(create_sync_message(server.ydoc))
    await asyncio.wait_for(session.wait_delivered(), 1)
    server.apply_update(second.payloads(YSyncMessageType.SYNC_STEP2)[0])
    assert _texts(server) == ["lost with the connection", "made while offline"]
    handshake = [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP2]
    assert first.kinds() == handshake, "no Update went out on the dead connection"


async def test_a_new_epoch_refuses_to_merge() -> None:
    session, _ = _session()
    session.attach(7, _Wire().send, epoch="e1")
    session.detach()
    with pytest.raises(DocumentNotFoundError, match="epoch e1 -> e2"):
        session.attach(8, _Wire().send, epoch="e2")
    assert session.channel is None


async def test_a_failed_session_fails_its_waiters() -> None:
    session, document = _session()
    document.root.append_child("p", {"text": "x"})
    waiting = asyncio.ensure_future(session.wait_delivered())
    await _settle()
    session.fail(ConnectionLostError("gone for good"))
    with pytest.raises(ConnectionLostError, match="gone for good"):
        await waiting
    with pytest.raises(ConnectionLostError):
        await document.synchronized
    assert document.sync_error is not None


async def test_edits_under_an_origin_of_the_callers_own_are_sent() -> None:
    session, document = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    session.receive(create_sync_message(Doc()))
    await _settle()
    with document.transaction(origin="agent-7"):
        document.root.append_child("p", {"text": "attributed"})
    await asyncio.wait_for(session.wait_delivered(), 1)
    replica = SyncedDocument(path="a.doc", schema=SCHEMA)
    replica.apply_update(merge_updates(*wire.payloads(YSyncMessageType.SYNC_UPDATE)))
    assert _texts(replica) == ["attributed"]


async def test_an_update_that_cannot_be_applied_asks_the_server_again() -> None:
    session, _ = _session()
    wire = _Wire()
    session.attach(7, wire.send, epoch="e1")
    await _settle()
    session.receive(bytes([0, YSyncMessageType.SYNC_UPDATE, 2, 0xFF, 0xFF]))
    await _settle()
    assert wire.kinds() == [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP1]
