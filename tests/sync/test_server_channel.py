"""The server end of a document channel, driven by hand: no event loop, no socket."""

from __future__ import annotations

import pytest
from pycrdt import (
    Encoder,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
)

from mesh_tools.document import MeshDocument
from mesh_tools.errors import PermissionDeniedError, ProtocolError, RemoteProtocolError
from mesh_tools.sync import (
    EMPTY_UPDATE,
    ServerChannel,
    awareness_clocks,
    decode_binary,
    parse_sync_message,
)

from ..support import NOTES, texts


def _awareness(*entries: tuple[int, int, str]) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for client, clock, state in entries:
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
        encoder.write_var_string(state)
    return create_awareness_message(encoder.to_bytes())


def test_the_greeting_is_the_servers_state_vector_on_the_channel() -> None:
    replica = MeshDocument(schema=NOTES)
    channel, message = decode_binary(ServerChannel(4, read_only=False).greeting(replica))
    assert channel == 4
    assert parse_sync_message(message).payload == replica.get_state()


def test_answering_the_peers_step1_makes_the_channel_live() -> None:
    server = MeshDocument(schema=NOTES)
    server.root.append_child("note", {"text": "stored"})
    peer = MeshDocument(schema=NOTES)
    channel = ServerChannel(2, read_only=False)
    assert not channel.live
    inbound = channel.receive(server, create_sync_message(peer.ydoc), path="a.notes")
    assert channel.live and inbound.update is None and inbound.reply is not None
    number, message = decode_binary(inbound.reply)
    step2 = parse_sync_message(message)
    assert (number, step2.kind) == (2, YSyncMessageType.SYNC_STEP2)
    peer.apply_update(step2.payload)
    assert texts(peer) == ["stored"]


def test_updates_are_handed_to_the_document_and_empty_ones_dropped() -> None:
    server = MeshDocument(schema=NOTES)
    peer = MeshDocument(schema=NOTES)
    channel = ServerChannel(1, read_only=False)
    before = peer.get_state()
    peer.root.append_child("note", {"text": "new"})
    update = peer.get_update(before)
    assert channel.receive(server, create_update_message(update), path="a.notes").update == update
    assert channel.receive(server, create_update_message(EMPTY_UPDATE), path="a.notes").update is None


def test_a_read_only_channel_refuses_updates_but_still_syncs() -> None:
    server = MeshDocument(schema=NOTES)
    peer = MeshDocument(schema=NOTES)
    channel = ServerChannel(1, read_only=True)
    assert channel.receive(server, create_sync_message(peer.ydoc), path="a.notes").reply is not None
    peer.root.append_child("note", {"text": "sneaky"})
    with pytest.raises(PermissionDeniedError, match=r"may only read 'a\.notes'"):
        channel.receive(server, create_update_message(peer.get_update()), path="a.notes")


def test_a_state_vector_that_cannot_be_read_is_the_peers_protocol_error() -> None:
    server = MeshDocument(schema=NOTES)
    channel = ServerChannel(1, read_only=False)
    with pytest.raises(RemoteProtocolError, match="state vector"):
        channel.receive(server, bytes([0, 0, 3, 0xFF, 0xFF, 0xFF]), path="a.notes")
    assert not channel.live


def test_awareness_is_relayed_and_remembered_until_the_channel_goes() -> None:
    server = MeshDocument(schema=NOTES)
    channel = ServerChannel(1, read_only=False)
    assert channel.awareness_removal() is None
    hello = _awareness((11, 3, '{"user":"ada"}'), (12, 1, '{"user":"bob"}'))
    assert channel.receive(server, hello, path="a.notes").awareness == hello
    channel.receive(server, _awareness((12, 2, "null")), path="a.notes")
    assert channel.awareness == {11: 3}
    removal = channel.awareness_removal()
    assert removal is not None and awareness_clocks(removal) == {11: None}
    with pytest.raises(ProtocolError):
        channel.receive(server, bytes([1, 5, 1]), path="a.notes")
