"""The client end of a document's sync, driven by hand: no event loop, no socket, frames in and out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, YSyncMessageType, create_sync_message, create_update_message, merge_updates

from mesh_tools.document import MeshDocument
from mesh_tools.sync import (
    EMPTY_UPDATE,
    ClientChannel,
    Outgoing,
    Received,
    decode_binary,
    parse_sync_message,
    sync_step2_message,
)

from ..support import NOTES, texts


def _channel() -> tuple[ClientChannel, MeshDocument]:
    document = MeshDocument(schema=NOTES)
    channel = ClientChannel(document)
    document.on_update(channel.local_update)
    return channel, document


def _drain(channel: ClientChannel) -> list[Outgoing]:
    """Every frame the channel has for its connection, each reported written as it is taken."""
    frames = []
    while (outgoing := channel.next_frame()) is not None:
        channel.sent(outgoing)
        frames.append(outgoing)
    return frames


def _kinds(frames: list[Outgoing]) -> list[YSyncMessageType]:
    return [parse_sync_message(decode_binary(f.frame)[1]).kind for f in frames]


def _payloads(frames: list[Outgoing]) -> list[bytes]:
    return [parse_sync_message(decode_binary(f.frame)[1]).payload for f in frames]


def _note(document: MeshDocument, text: str) -> None:
    document.root.append_child("note", {"text": text})


def test_nothing_goes_out_before_a_connection() -> None:
    channel, document = _channel()
    _note(document, "offline")
    assert not channel.wants_to_send and channel.next_frame() is None
    assert not channel.delivered(channel.mark())


def test_the_handshake_answers_the_server_with_everything_it_lacks() -> None:
    channel, document = _channel()
    server = MeshDocument(schema=NOTES)
    _note(document, "made offline")
    channel.connect(7, read_only=False)
    _note(document, "made before the server's Step1")
    greeting = _drain(channel)
    assert _kinds(greeting) == [YSyncMessageType.SYNC_STEP1], "nothing streams before the handshake"
    assert all(decode_binary(f.frame)[0] == 7 for f in greeting)
    mark = channel.mark()
    assert not channel.delivered(mark)

    assert channel.receive(create_sync_message(server.ydoc)) is Received.STATE
    answer = _drain(channel)
    assert _kinds(answer) == [YSyncMessageType.SYNC_STEP2]
    server.apply_update(_payloads(answer)[0])
    assert texts(server) == ["made offline", "made before the server's Step1"]
    assert channel.delivered(mark)

    _note(document, "live")
    assert not channel.delivered(channel.mark())
    update = _drain(channel)
    assert _kinds(update) == [YSyncMessageType.SYNC_UPDATE]
    server.apply_update(_payloads(update)[0])
    assert texts(server) == ["made offline", "made before the server's Step1", "live"]
    assert channel.delivered(channel.mark())


def test_the_servers_step2_synchronizes_and_is_not_sent_back() -> None:
    channel, document = _channel()
    server = MeshDocument(schema=NOTES)
    _note(server, "from the server")
    channel.connect(1, read_only=False)
    _drain(channel)
    received = channel.receive(sync_step2_message(server.get_update(document.get_state())))
    assert received is Received.SYNCHRONIZED
    assert texts(document) == ["from the server"]
    channel.receive(create_sync_message(server.ydoc))
    assert _drain(channel)[0].covers == 0, "the server's own update is not a local change"


def test_updates_written_while_a_frame_is_in_flight_go_out_merged_in_order() -> None:
    channel, document = _channel()
    channel.connect(7, read_only=False)
    channel.receive(create_sync_message(Doc()))
    handshake = _drain(channel)
    _note(document, "0")
    in_flight = channel.next_frame()  # taken by the shell, not yet written
    assert in_flight is not None
    for i in range(1, 50):
        _note(document, str(i))
    mark = channel.mark()
    channel.sent(in_flight)
    assert not channel.delivered(mark)
    rest = _drain(channel)
    assert len(rest) == 1, "49 edits queued behind one write go out as one merged update"
    assert channel.delivered(mark)
    replica = MeshDocument(schema=NOTES)
    replica.apply_update(merge_updates(*_payloads(handshake)[1:], *_payloads([in_flight, *rest])))
    assert texts(replica) == [str(i) for i in range(50)]


def test_a_new_connection_resends_what_the_dead_one_swallowed() -> None:
    channel, document = _channel()
    channel.connect(7, read_only=False)
    channel.receive(create_sync_message(Doc()))
    first = _drain(channel)
    _note(document, "lost with the connection")
    swallowed = channel.next_frame()  # taken, never written: the connection died under it
    assert swallowed is not None
    channel.disconnect()
    _note(document, "made while offline")
    channel.sent(swallowed)  # a late report from the dead connection proves nothing
    channel.connect(7, read_only=False)
    server = MeshDocument(schema=NOTES)
    channel.receive(create_sync_message(server.ydoc))
    second = _drain(channel)
    assert channel.delivered(channel.mark())
    server.apply_update(_payloads(second)[1])
    assert texts(server) == ["lost with the connection", "made while offline"]
    assert _kinds(first) == [YSyncMessageType.SYNC_STEP1, YSyncMessageType.SYNC_STEP2]


def test_a_read_only_channel_answers_empty_and_queues_nothing() -> None:
    channel, document = _channel()
    channel.connect(3, read_only=True)
    channel.receive(create_sync_message(Doc()))
    frames = _drain(channel)
    assert _payloads(frames)[1] == EMPTY_UPDATE
    document.ydoc.get("raw", type=Map)["x"] = 1  # a write around the read-only API
    assert not channel.wants_to_send and channel.delivered(channel.mark())


def test_an_update_that_cannot_be_applied_asks_the_server_again() -> None:
    channel, _ = _channel()
    channel.connect(7, read_only=False)
    _drain(channel)
    assert channel.receive(bytes([0, YSyncMessageType.SYNC_UPDATE, 2, 0xFF, 0xFF])) is Received.RESYNC
    assert _kinds(_drain(channel)) == [YSyncMessageType.SYNC_STEP1]


def test_awareness_and_malformed_messages_change_nothing() -> None:
    channel, _ = _channel()
    channel.connect(7, read_only=False)
    _drain(channel)
    assert channel.receive(bytes([1, 1, 0])) is Received.IGNORED
    assert channel.receive(bytes([0, 9, 0])) is Received.IGNORED
    assert not channel.wants_to_send


@settings(max_examples=60)
@given(st.lists(st.sampled_from(["edit", "write", "drop", "handshake"]), max_size=40))
def test_whatever_the_order_of_events_the_server_ends_with_every_local_edit(events: list[str]) -> None:
    channel, document = _channel()
    server = MeshDocument(schema=NOTES)
    made: list[str] = []
    channel.connect(1, read_only=False)
    for event in events:
        if event == "edit":
            made.append(str(len(made)))
            _note(document, made[-1])
        elif event == "write" and (outgoing := channel.next_frame()) is not None:
            message = parse_sync_message(decode_binary(outgoing.frame)[1])
            if message.kind != YSyncMessageType.SYNC_STEP1:
                server.apply_update(message.payload)
            channel.sent(outgoing)
        elif event == "drop":
            channel.disconnect()
            channel.connect(1, read_only=False)
        elif event == "handshake":
            channel.receive(create_sync_message(server.ydoc))
    channel.receive(create_sync_message(server.ydoc))
    for outgoing in _drain(channel):
        message = parse_sync_message(decode_binary(outgoing.frame)[1])
        if message.kind != YSyncMessageType.SYNC_STEP1:
            server.apply_update(message.payload)
    assert sorted(texts(server), key=int) == made
    assert channel.delivered(channel.mark())


def test_the_servers_step2_reaches_update_listeners_as_it_came() -> None:
    channel, document = _channel()
    heard: list[bytes] = []
    document.on_update(lambda update, origin: heard.append(update))
    server = MeshDocument(schema=NOTES)
    written: list[bytes] = []
    server.on_update(lambda update, origin: written.append(update))
    for i in range(3):
        _note(server, f"note {i}")
    server.root.get_children()[0].set_attribute("text", "note 0, rewritten")
    channel.connect(1, read_only=False)
    _drain(channel)
    # What the replica lacks, as a server holding an uncompacted log has it: pycrdt would encode the
    # transaction's update otherwise (squashing the runs), so the bytes tell whose encoding was heard.
    answer = merge_updates(*written)
    assert channel.receive(sync_step2_message(answer)) is Received.SYNCHRONIZED
    assert heard == [answer]
    assert texts(document) == ["note 0, rewritten", "note 1", "note 2"]
    before = server.get_state()
    _note(server, "live")
    live = server.get_update(before)
    assert channel.receive(create_update_message(live)) is Received.APPLIED
    assert len(heard) == 2 and texts(document)[-1] == "live"
    # Either way a listener can rebuild the replica from what it heard.
    rebuilt = MeshDocument(schema=NOTES)
    rebuilt.apply_updates(heard)
    assert rebuilt.to_json(include_ids=True) == document.to_json(include_ids=True)
