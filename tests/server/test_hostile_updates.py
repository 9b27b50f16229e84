"""Raw Yjs updates built with plain pycrdt, outside the document API, against a real room server.

Each one would break the layout beyond repair (a CRDT cannot undo a delete); the server refuses it
before it touches the replica, tells the sender, relays and stores nothing, and every honest
participant keeps working, after a restart too.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    XmlElement,
    XmlFragment,
    XmlText,
    create_update_message,
    get_update,
)

from mesh_tools.document import FRAGMENT_NAME, PARTICIPANTS_MAP, MeshDocument, check_update
from mesh_tools.document._layout import root_update
from mesh_tools.document._yjs_update import TypeRef, decode_update
from mesh_tools.errors import ProtocolError, UpdateRefusedError
from mesh_tools.server import RoomServer
from mesh_tools.sync import PushType

from ..support import ARTICLE, RawConnector, RawItem, craft_update

Edit = Callable[[Doc[Any], XmlFragment, XmlElement], None]


def _root_of(fragment: XmlFragment) -> XmlElement:
    root = fragment.children[0]
    assert isinstance(root, XmlElement)
    return root


def _hostile(base: bytes, edit: Edit) -> bytes:
    """The update plain pycrdt produces for ``edit`` on a copy of a document holding ``base``."""
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(base)
    fragment = ydoc.get(FRAGMENT_NAME, type=XmlFragment)
    state = ydoc.get_state()
    edit(ydoc, fragment, _root_of(fragment))
    return ydoc.get_update(state)


def _delete_root(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    del fragment.children[0]


def _imposter_before(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    fragment.children.insert(0, XmlElement("doc", {"$id": "root"}))


def _imposter_after(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    fragment.children.append(XmlElement("doc", {"$id": "imposter"}))


def _rename_root(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    root.attributes["$id"] = "hijacked"


def _drop_root_id(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    del root.attributes["$id"]


def _text_node(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    root.children.append(XmlText("a hidden channel"))


def _text_in_child(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    child = root.children.append(XmlElement("p", {"$id": "withtext"}))
    child.children.append(XmlText("hidden"))


def _top_level_map(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    ydoc.get("side", type=Map)["payload"] = "x" * 100


def _spoofed_participant(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    # Booking this client's edits to another client's name.
    ydoc.get(PARTICIPANTS_MAP, type=Map)[str(ydoc.client_id + 1)] = "alice"


def _participant_not_a_name(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    ydoc.get(PARTICIPANTS_MAP, type=Map)[str(ydoc.client_id)] = {"name": "alice"}


def _top_level_text(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    ydoc.get("notes", type=Text).insert(0, "hidden")


def _top_level_array(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    ydoc.get("list", type=Array).append(1)


def _bad_id_format(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
    root.children.append(XmlElement("p", {"$id": "not an id!"}))


EDITS: dict[str, Edit] = {
    "delete the root": _delete_root,
    "imposter root before the real one": _imposter_before,
    "imposter root after the real one": _imposter_after,
    "rename the root": _rename_root,
    "remove the root's id": _drop_root_id,
    "text node under the root": _text_node,
    "text node deeper down": _text_in_child,
    "top-level map": _top_level_map,
    "a participant entry for another client": _spoofed_participant,
    "a participant entry that is not a name": _participant_not_a_name,
    "top-level text": _top_level_text,
    "top-level array": _top_level_array,
    "malformed id": _bad_id_format,
}
_ROOT = (0, 0)
_MALLORY = 4242
#: Structs no pycrdt or Yjs API writes, built byte by byte.
CRAFTED: dict[str, bytes] = {
    "a bare delete of the root": craft_update(_MALLORY, 0, [], {0: [(0, 1)]}),
    "an element as an attribute value": craft_update(
        _MALLORY, 0, [RawItem(_ROOT, key="title", type_ref=TypeRef.XML_ELEMENT, type_name="p")]
    ),
    "a plain value among the root's children": craft_update(_MALLORY, 0, [RawItem(_ROOT, values=("x",))]),
    "a map among the root's children": craft_update(_MALLORY, 0, [RawItem(_ROOT, type_ref=TypeRef.MAP)]),
    "an item inside the root's id": craft_update(_MALLORY, 0, [RawItem((0, 1), values=("x",))]),
    "deleted content in a top-level type": craft_update(_MALLORY, 0, [RawItem("evil", deleted=3)]),
    "items beside one another in a circle": craft_update(
        _MALLORY,
        0,
        [
            RawItem((_MALLORY, 1), origin=True, values=("x",)),
            RawItem((_MALLORY, 0), origin=True, values=("y",)),
        ],
    ),
    "an id that is not a string": craft_update(
        _MALLORY,
        0,
        [
            RawItem(_ROOT, type_ref=TypeRef.XML_ELEMENT, type_name="p"),
            RawItem((_MALLORY, 0), "$id", values=(None,)),
        ],
    ),
}
HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    **{name: functools.partial(_hostile, edit=edit) for name, edit in EDITS.items()},
    **{
        name: functools.partial(lambda base, update: update, update=update)
        for name, update in CRAFTED.items()
    },
}


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_guard_refuses_each_hostile_update(hostile: Callable[[bytes], bytes]) -> None:
    with pytest.raises(UpdateRefusedError):
        check_update(hostile(root_update("doc")))


def test_the_guard_passes_what_honest_replicas_send() -> None:
    def honest(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
        root.attributes["title"] = "T"
        child = root.children.append(XmlElement("p", {"$id": "abcdefgh", "text": "one"}))
        child.attributes["size"] = 2
        child.attributes["text"] = "two"  # an overwrite: written with an origin, not a key
        root.children.append(XmlElement("p", {"$id": "ijklmnop"}))
        del root.children[1]
        ydoc.get(PARTICIPANTS_MAP, type=Map)[str(ydoc.client_id)] = "bob"  # who made these edits

    update = _hostile(root_update("doc"), honest)
    check_update(update)
    # A full state (what SyncStep2 carries) holds the root recipe of client 0 too.
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(root_update("doc"))
    ydoc.apply_update(update)
    check_update(ydoc.get_update())


def test_the_guard_allows_text_only_where_the_schema_declares_it() -> None:
    doc = MeshDocument(schema=ARTICLE)
    state = doc.ydoc.get_state()
    para = doc.root.append_json(
        {"para": {"text": "hello", "$marks": [{"mark": "bold", "start": 0, "end": 5}]}}
    )
    check_update(doc.get_update(state), schema=ARTICLE)
    # Typing into the existing text: its parent is in the replica, not in the update.
    typed = doc.ydoc.get_state()
    para.insert_text(5, " world")
    check_update(doc.get_update(typed), schema=ARTICLE)

    def text_in_figure(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
        figure = root.children.append(XmlElement("figure", {"$id": "figure1"}))
        figure.children.append(XmlText("hidden"))

    with pytest.raises(UpdateRefusedError, match="declares no text"):
        check_update(_hostile(root_update("article"), text_in_figure), schema=ARTICLE)
    with pytest.raises(UpdateRefusedError, match="declares no text"):
        check_update(_hostile(root_update("article"), _text_node), schema=ARTICLE)


def test_client_zero_writes_nothing_but_the_root() -> None:
    ydoc: Doc[Any] = Doc(client_id=0)
    ydoc.apply_update(root_update("doc"))
    state = ydoc.get_state()
    _root_of(ydoc.get(FRAGMENT_NAME, type=XmlFragment)).attributes["title"] = "as the root's writer"
    with pytest.raises(UpdateRefusedError, match="client 0"):
        check_update(ydoc.get_update(state))


def test_unreadable_updates_are_protocol_errors() -> None:
    for junk in (b"\x01", b"\x05\x07", b"\x01\x01\x05\x00\x1f", root_update("doc") + b"\x00"):
        with pytest.raises(ProtocolError):
            check_update(junk)


def test_the_decoder_reads_what_pycrdt_writes() -> None:
    update = _hostile(root_update("doc"), _text_in_child)
    items = decode_update(update).items
    assert [(item.type_name, item.key, item.values) for item in items] == [
        ("p", None, ()),
        (None, "$id", ("withtext",)),
        (None, None, ()),
        (None, None, ("hidden",)),  # a string item's characters
    ]
    assert items[3].length == len("hidden")


def test_the_decoder_leaves_out_what_the_replica_holds_as_pycrdt_trims_it() -> None:
    writer = MeshDocument(schema=ARTICLE)
    for i in range(3):
        writer.root.append_child("figure", {"src": f"held {i}"})
    held = MeshDocument(schema=ARTICLE)
    held.apply_update(writer.get_update())
    for i in range(3):
        writer.root.append_child("figure", {"src": f"new {i}"})
    writer.root.get_children()[0].delete()
    update, known = writer.get_update(), held.get_state()
    skipped = decode_update(update, known)
    trimmed = decode_update(get_update(update, known))
    assert [(i.id, i.content, i.values) for i in skipped.items] == [
        (i.id, i.content, i.values) for i in trimmed.items
    ]
    assert skipped.items and len(skipped.items) < len(decode_update(update).items)
    assert skipped.deletes == trimmed.deletes


# -- through the server ---------------------------------------------------------------------------


def _held_paragraph(base: bytes) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
    """The item id of the honest <p> in ``base`` and of each of its attribute values, by name."""
    items = decode_update(base).items
    element = next(item.id for item in items if item.type_name == "p")
    attributes = {item.key: item.id for item in items if item.parent == element and item.key is not None}
    return element, attributes


def _into_held(
    build: Callable[[tuple[int, int], dict[str, tuple[int, int]]], list[RawItem]],
) -> Callable[[bytes], bytes]:
    def hostile(base: bytes) -> bytes:
        element, attributes = _held_paragraph(base)
        return craft_update(_MALLORY, 0, build(element, attributes))

    return hostile


def _text_in_held(base: bytes) -> bytes:
    def edit(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
        paragraph = root.children[0]
        assert isinstance(paragraph, XmlElement)
        paragraph.children.append(XmlText("hidden"))  # a <p> declares no text

    return _hostile(base, edit)


def _taken_id(base: bytes) -> bytes:
    def edit(ydoc: Doc[Any], fragment: XmlFragment, root: XmlElement) -> None:
        paragraph = root.children[0]
        assert isinstance(paragraph, XmlElement)
        root.children.insert(0, XmlElement("p", {"$id": paragraph.attributes["$id"], "text": "imposter"}))

    return _hostile(base, edit)


#: Updates that put content into what the server already holds: the update names the parent only by
#: its item id, or not at all (an item placed beside a held one takes that one's parent and key).
INTO_HELD: dict[str, Callable[[bytes], bytes]] = {
    "characters straight into a held element": _into_held(lambda p, a: [RawItem(p, text="hidden")]),
    "characters beside a held element": _into_held(lambda p, a: [RawItem(p, origin=True, text="hidden")]),
    "a plain value beside a held element": _into_held(lambda p, a: [RawItem(p, origin=True, values=("x",))]),
    "an element overwriting a held attribute": _into_held(
        lambda p, a: [RawItem(a["text"], origin=True, type_ref=TypeRef.XML_ELEMENT, type_name="p")]
    ),
    "a map into a held element": _into_held(lambda p, a: [RawItem(p, type_ref=TypeRef.MAP)]),
    "an item inside a held attribute value": _into_held(lambda p, a: [RawItem(a["text"], values=("x",))]),
    "a malformed id overwriting a held one": _into_held(
        lambda p, a: [RawItem(a["$id"], origin=True, values=("a b",))]
    ),
    "an item beside one the server lacks": _into_held(
        lambda p, a: [RawItem((_MALLORY + 1, 7), origin=True, values=("x",))]
    ),
    "a text node in a held element that declares none": _text_in_held,
    "a new element with a held element's id": _taken_id,
}
#: Every one of them, and those into held content, are refused by the server.
THROUGH_SERVER = {**HOSTILE, **INTO_HELD}


@pytest.mark.parametrize("hostile", THROUGH_SERVER.values(), ids=THROUGH_SERVER.keys())
async def test_a_hostile_update_changes_nothing_anywhere(
    server: RoomServer,
    tmp_path: Path,
    secret: str,
    raw_client: RawConnector,
    hostile: Callable[[bytes], bytes],
) -> None:
    async with raw_client(server.url) as alice, raw_client(server.url) as mallory:
        honest = await alice.open("target.doc")
        honest.doc.root.set_attribute("title", "kept")
        honest.doc.root.append_child("p", {"text": "honest content"})
        attacker = await mallory.open("target.doc")
        await attacker.wait_for(lambda d: len(d) == 2, what="the honest paragraph")
        before = honest.doc.to_json(include_ids=True)
        update = hostile(attacker.doc.get_update())
        await mallory.send_frame(attacker.channel, create_update_message(update))
        push = await mallory.next_push()
        assert push.type == PushType.ERROR
        assert push.fields["error"]["code"] == "update_refused"
        assert push.fields["channel"] == attacker.channel
        # Nothing was relayed: the honest replica still equals what it was, and keeps syncing.
        honest.doc.root.append_child("p", {"text": "after"})
        await attacker.wait_for(lambda d: len(d) == 3, what="the paragraph written after")
        await asyncio.sleep(0.05)
        assert alice.pushes.empty()
        assert honest.doc.to_json(include_ids=True)["doc"]["children"][:1] == before["doc"]["children"]
        await alice.request("sync.flush", channel=honest.channel)
        described = await alice.request("sync.describe", path="target.doc")
    assert described["json"] == honest.doc.to_json(include_ids=True)
    await server.close()
    # What was stored holds no trace of the update either.
    async with (
        RoomServer(data_dir=tmp_path / "server", secret=secret) as restarted,
        raw_client(restarted.url) as again,
    ):
        reopened = await again.open("target.doc", create=False)
        assert reopened.doc.to_json(include_ids=True) == described["json"]
        assert list(reopened.doc.ydoc.keys()) == [FRAGMENT_NAME]


async def test_sync_sync_refuses_the_same_updates(server: RoomServer, raw_client: RawConnector) -> None:
    async with raw_client(server.url) as alice:
        doc = await alice.open("target.doc")
        doc.doc.root.append_child("p", {"text": "honest"})
        update = _hostile(doc.doc.get_update(), _delete_root)
        with pytest.raises(UpdateRefusedError):
            await alice.request("sync.sync", path="target.doc", data=base64.b64encode(update).decode())
        described = await alice.request("sync.describe", path="target.doc")
    assert described["json"] == doc.doc.to_json(include_ids=True)
