"""A participant's sender writes every frame queued since its last turn at once: frames keep their order,
their kind and their channel, and a reader whose socket is full holds up no one else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import write_var_uint
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from mesh_tools.server import RoomServer
from mesh_tools.server._participant import Participant
from mesh_tools.sync import decode_binary, encode_binary
from mesh_tools.tokens import ParticipantToken

from ..support import NOTES, NOTES_ROOM, ClientFactory, TcpProxy, texts, wait_until

#: A text frame, or a channel and its y-message (a QueryAwareness: a valid one-byte message) padded
#: with ``size`` bytes of an awareness payload.
Frame = str | tuple[int, int]


def _encoded(frame: Frame) -> str | bytes:
    if isinstance(frame, str):
        return frame
    channel, size = frame
    payload = bytes(size)
    # An awareness y-message: type 1, then one length-prefixed payload.
    return encode_binary(channel, bytes([1]) + write_var_uint(len(payload)) + payload)


async def _received_through_participant(frames: list[str | bytes]) -> list[str | bytes]:
    """Queue every frame on a Participant before its sender starts, so they go out as batches."""
    token = ParticipantToken.for_room(name="reader", room="r")
    sent = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        participant = Participant(connection, token, queue_bytes=1 << 30)
        for frame in frames:
            participant.send(frame)
        participant.start()
        await sent.wait()
        await participant.stop()

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as client:
            received = [await client.recv() for _ in frames]
            sent.set()
    return received


@settings(max_examples=15)
@given(
    st.lists(
        st.one_of(
            st.text(min_size=1, max_size=50),
            st.tuples(st.integers(0, 2**20), st.sampled_from([0, 1, 200, 70_000, 300_000])),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_batched_frames_arrive_in_order_each_its_own_message_of_its_kind_and_channel(
    frames: list[Frame],
) -> None:
    encoded = [_encoded(frame) for frame in frames]
    received = asyncio.run(_received_through_participant(encoded))
    assert received == encoded
    for frame, message in zip(frames, received, strict=True):
        if isinstance(frame, str):
            assert isinstance(message, str)
        else:
            assert isinstance(message, bytes)
            assert decode_binary(message)[0] == frame[0]


@pytest.mark.slow
async def test_a_reader_whose_socket_is_full_does_not_delay_the_others(
    tmp_path: Path, secret: str, room_client: ClientFactory
) -> None:
    async with (
        RoomServer(data_dir=tmp_path, secret=secret) as server,
        TcpProxy(int(server.url.rsplit(":", 1)[1])) as proxy,
        room_client(proxy.url, NOTES_ROOM, "stalled") as stalled,
        room_client(server.url, NOTES_ROOM, "reader") as reader,
        room_client(server.url, NOTES_ROOM, "writer") as writer,
    ):
        await writer.schemas.put("notes", NOTES)
        documents = [await client.sync.open("big.notes") for client in (stalled, reader, writer)]
        await asyncio.gather(*(document.synchronized for document in documents))
        mine, theirs, written = documents
        proxy.stall()
        # 8 MiB of new notes: more than the stalled reader's socket buffers hold, so its sender waits
        # for the socket to drain while the other reader is served.
        for i in range(64):
            written.root.append_child("note", {"text": f"{i:04d}" + "x" * (128 * 1024)})
        await wait_until(lambda: len(texts(theirs)) == 64, what="the other reader has every note", timeout=30)
        assert len(texts(mine)) < 64
        stalled_participant = next(
            s.participant
            for s in server.rooms[NOTES_ROOM].documents["big.notes"].subscribers
            if s.participant.token.name == "stalled"
        )
        assert not stalled_participant.closing
        proxy.resume()
        await wait_until(
            lambda: texts(mine) == texts(theirs), what="the stalled reader caught up", timeout=60
        )
