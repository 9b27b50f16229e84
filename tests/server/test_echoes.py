"""Updates a participant sends back exactly as it was sent them are recognised and dropped unread."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Provider
from websockets.asyncio.client import connect

from mesh_tools.document import MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.server._participant import Participant
from mesh_tools.server._sent_updates import SentUpdates

from ..support import DOC_SCHEMA, ROOM, MakeToken, RawConnector, WebsocketChannel, wait_until


def test_an_update_is_recognised_once_on_the_channel_it_was_sent_on() -> None:
    sent = SentUpdates(1024, 16)
    channel_a, channel_b = object(), object()
    sent.remember(channel_a, b"update")
    assert not sent.echoed(channel_b, b"update")  # the same bytes for another document are news there
    assert not sent.echoed(channel_a, b"other")
    assert not sent.echoed(None, b"other")  # whatever the key, an update never sent is no echo
    assert sent.echoed(channel_a, b"update")
    assert not sent.echoed(channel_a, b"update")  # sent once, recognised once
    assert (len(sent), sent.size) == (0, 0)


@given(
    st.lists(st.binary(min_size=1, max_size=40), max_size=60),
    st.integers(min_value=1, max_value=200),
    st.integers(min_value=1, max_value=10),
    st.sampled_from([None, "channel"]),
)
def test_the_memory_keeps_the_newest_updates_within_its_bounds(
    updates: list[bytes], max_bytes: int, max_updates: int, key: object
) -> None:
    sent = SentUpdates(max_bytes, max_updates)
    for update in updates:
        sent.remember(key, update)
        assert sent.size <= max_bytes and len(sent) <= max_updates
    # The newest updates that fit are kept, none older than one forgotten; one bigger than the whole
    # byte bound is never kept (and forgets nothing).
    kept: set[bytes] = set()
    size = 0
    for update in reversed(updates):
        if update in kept or len(update) > max_bytes:
            continue
        if size + len(update) > max_bytes or len(kept) == max_updates:
            break
        kept.add(update)
        size += len(update)
    assert {update for update in set(updates) if sent.echoed(key, update)} == kept


@contextlib.asynccontextmanager
async def echoing_provider(server: RoomServer, path: str, token: str) -> AsyncIterator[MeshDocument]:
    """A replica kept in sync by pycrdt's Provider, which sends every update it applies back."""
    doc = MeshDocument(schema=DOC_SCHEMA)
    async with connect(f"{server.url}/rooms/{ROOM}/docs/{path}?token={token}") as connection:
        channel = WebsocketChannel(connection, path, sync_only=True)
        async with Provider(doc.ydoc, channel) as running:
            await wait_until(running.synced.is_set, what="the Provider synchronized")
            yield doc


def paragraphs(doc: MeshDocument) -> list[object]:
    """Read from the CRDT: the Provider applies updates beside MeshDocument's index."""
    children: list[object] = doc.to_json()["doc"].get("children", [])
    return children


def participant_named(server: RoomServer, path: str, name: str) -> Participant:
    subscribers = server.rooms[ROOM].documents[path].subscribers
    return next(s.participant for s in subscribers if s.participant.token.name == name)


async def test_a_pycrdt_provider_s_echoes_of_inserts_are_recognised_and_it_converges(
    server: RoomServer, make_token: MakeToken, raw_client: RawConnector
) -> None:
    async with (
        raw_client(server.url) as alice,
        echoing_provider(server, "echo.doc", make_token(name="bob")) as bob,
    ):
        a = await alice.open("echo.doc")
        bobs = participant_named(server, "echo.doc", "bob")
        for i in range(1, 21):
            a.doc.root.append_child("p", {"text": f"p{i}"})
            await wait_until(lambda count=i: len(paragraphs(bob)) == count, what=f"bob has p{i}")
        # Every insert relayed to bob came back as it went and was taken out of the memory, unread.
        await wait_until(lambda: bobs._sent.size == 0, what="bob's echoes recognised")
        bob.root.append_child("p", {"text": "from bob"})
        await a.wait_for(lambda d: len(d.root.get_children()) == 21, what="bob's own edit")
        await alice.request("sync.flush", channel=a.channel)
        described = await alice.request("sync.describe", path="echo.doc")
    assert len(described["json"]["doc"]["children"]) == 21
