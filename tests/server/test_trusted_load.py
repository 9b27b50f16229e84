"""A room server trusts the log it wrote (every stored state was checked and mended) and mends on load
only a layout its index walk finds off (docs/adr/0019-trusted-loads.md)."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, create_update_message

from mesh_tools.document import FRAGMENT_NAME, MeshDocument
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType

from ..support import DOC_SCHEMA, ROOM, RawClient, RawConnector


def _foreign(base: MeshDocument, element_id: str, **attributes: Any) -> tuple[bytes, bytes]:
    """(a plain Yjs client's update over ``base``: an attribute written beside the schema, and one that
    appends a paragraph with ``attributes`` as they are)."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(base.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    state = ydoc.get_state()
    paragraph = next(
        c for c in root.children if isinstance(c, XmlElement) and c.attributes["$id"] == element_id
    )
    paragraph.attributes["size"] = "huge"
    breaking = ydoc.get_update(state)
    state = ydoc.get_state()
    root.children.append(XmlElement("p", attributes))
    return breaking, ydoc.get_update(state)


def _check_every_row_boundary(updates: list[bytes]) -> None:
    for end in range(1, len(updates) + 1):
        replica = MeshDocument(schema=DOC_SCHEMA)
        replica.apply_updates(updates[:end])
        assert replica.validate() == [], f"the log's first {end} rows hold a state the server never kept"


async def test_a_schema_breaking_update_and_its_repair_are_stored_as_one_row(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as mallory:
        honest = await alice.open("rows.doc")
        paragraph = honest.doc.root.append_child("p", {"text": "kept", "size": 1})
        attacker = await mallory.open("rows.doc", create=False)
        await attacker.wait_for(lambda d: d.get_element(paragraph.id) is not None, what="the paragraph")
        breaking, _ = _foreign(attacker.doc, paragraph.id)
        await mallory.send_frame(attacker.channel, create_update_message(breaking))
        push = await mallory.next_push()
        assert push.type == PushType.SYNC_REJECTED
        await mallory.request("sync.flush", channel=attacker.channel)
        stored = await server.storage.load_document(ROOM, "rows.doc")
        assert stored is not None
        # A crash between any two rows leaves a state the server held: never the update without its repair.
        _check_every_row_boundary(stored.updates)
        assert honest.doc.get_element(paragraph.id) is not None


async def test_a_stored_layout_the_server_did_not_write_is_mended_once_on_load(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        opened = await alice.open("copied.doc")
        paragraph = opened.doc.root.append_child("p", {"text": "original"})
        await alice.request("sync.close", channel=opened.channel)
        assert "copied.doc" not in server.rooms[ROOM].documents
        # Written into the log by other means than the server (a restored or edited file): a second
        # element with the first one's id, and one without an id.
        _, copy = _foreign(opened.doc, paragraph.id, **{"$id": paragraph.id, "text": "copy"})
        await server.storage.append_update(ROOM, "copied.doc", copy)
        _, anonymous = _foreign(opened.doc, paragraph.id, text="anonymous")
        await server.storage.append_update(ROOM, "copied.doc", anonymous)
        reopened = await alice.open("copied.doc", create=False)
        replica = server.rooms[ROOM].documents["copied.doc"].doc
        assert replica.validate() == []
        ids = [element.id for element in replica]
        assert len(ids) == len(set(ids))
        assert replica.get_element(paragraph.id) is not None
        mended = replica.to_json(include_ids=True)
        assert reopened.doc.to_json(include_ids=True) == mended
        await alice.request("sync.flush", channel=reopened.channel)
    # The repair was stored: the log now loads sound, with nothing left to mend.
    stored = await server.storage.load_document(ROOM, "copied.doc")
    assert stored is not None
    loaded = MeshDocument(schema=DOC_SCHEMA)
    assert loaded.load_stored(stored.updates) is False
    assert loaded.to_json(include_ids=True) == mended


async def test_a_loaded_document_is_recorded_for_the_update_guard_at_its_first_update(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        await _stored_and_unloaded(alice, server, "primed.doc", 50)
        reopened = await alice.open("primed.doc", create=False)
        live = server.rooms[ROOM].documents["primed.doc"]
        # Nothing recorded for a reader: the record costs ~25 us an element.
        assert live._priming is None
        first = reopened.doc.root.get_children()[0]
        first.delete()
        await alice.request("sync.flush", channel=reopened.channel)
        # Recorded off the event loop before the update was checked: nothing is left behind.
        assert live._guard.prepare().behind is None
        assert live.doc.get_element(first.id) is None
        assert len(live.doc.root.get_children()) == 49


async def test_a_document_loaded_to_be_described_or_read_is_not_recorded_for_the_guard(
    server: RoomServer, raw_client: RawConnector
) -> None:
    async with raw_client(server.url) as alice:
        await _stored_and_unloaded(alice, server, "described.doc", 20)
        server.rooms[ROOM].keep_loaded = 60.0  # so the described document stays to be looked at
        described = await alice.request("sync.describe", path="described.doc")
        assert len(described["json"]["doc"]["children"]) == 20
        live = server.rooms[ROOM].documents["described.doc"]
        # Nothing recorded beside the describe, which it would slow down, nor for a reader.
        assert live._priming is None
        await alice.open("described.doc", create=False)
        assert live._priming is None
        assert live._guard.prepare().behind is not None


async def _stored_and_unloaded(alice: RawClient, server: RoomServer, path: str, paragraphs: int) -> None:
    """Create ``path`` with so many paragraphs and close it: it is stored, and no longer loaded."""
    opened = await alice.open(path)
    for n in range(paragraphs):
        opened.doc.root.append_child("p", {"text": f"paragraph {n}"})
    await alice.request("sync.close", channel=opened.channel)
    assert path not in server.rooms[ROOM].documents
