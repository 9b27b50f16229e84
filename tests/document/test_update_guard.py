"""The update guard against a replica: items placed through the record of what the replica holds.

A server-side replica checks each update with its UpdateGuard before applying it, as the room server
does; honest editing of every kind passes, and content put into held elements, texts, attributes or
the participants register is refused whatever way the update names its place.
"""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText

from mesh_tools.document import FRAGMENT_NAME, PARTICIPANTS_MAP, MeshDocument, UpdateGuard
from mesh_tools.document._yjs_update import decode_update
from mesh_tools.errors import RemoteProtocolError, UpdateRefusedError
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty

from ..support import ARTICLE, RawItem, craft_update


class Server:
    """A replica that applies only what its guard lets through, as LiveDocument does."""

    def __init__(self) -> None:
        self.doc = MeshDocument(schema=ARTICLE)
        self.guard = UpdateGuard(self.doc)

    def receive(self, update: bytes) -> None:
        checked = self.guard.check(update, self.guard.prepare())
        self.doc.apply_update(update)
        self.guard.accept(checked)

    def send_from(self, doc: MeshDocument | Doc[Any], edit: Any) -> None:
        """Apply ``edit`` to ``doc`` and send this replica what it lacks."""
        ydoc = doc.ydoc if isinstance(doc, MeshDocument) else doc
        edit()
        self.receive(ydoc.get_update(self.doc.get_state()))


def _plain_copy(doc: MeshDocument) -> tuple[Doc[Any], XmlElement]:
    ydoc: Doc[Any] = Doc()
    ydoc.apply_update(doc.get_update())
    root = ydoc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    return ydoc, root


def test_honest_editing_of_every_kind_passes() -> None:
    server = Server()
    alice = MeshDocument(schema=ARTICLE)
    alice.apply_update(server.doc.get_update())
    para = alice.root.append_child("para", {"style": "lead"})
    server.receive(alice.get_update(server.doc.get_state()))
    server.send_from(alice, lambda: para.insert_text(0, "hello"))
    server.send_from(alice, lambda: para.insert_text(5, " world"))  # beside held characters
    server.send_from(alice, lambda: para.format_text(0, 5, {"bold": True}))
    server.send_from(alice, lambda: para.set_attribute("style", "body"))  # an overwrite: origin, no key
    server.send_from(alice, lambda: alice.root.append_child("figure", {"src": "a.png"}))  # beside a held one
    server.send_from(alice, lambda: para.delete_text(0, 6))
    server.send_from(alice, lambda: alice.root.get_children()[1].delete())
    # The guard learns what the replica got by other ways (here a local edit) before the next check.
    server.doc.root.append_child("figure", {"src": "server.png"})
    alice.apply_update(server.doc.get_update(alice.get_state()))
    server.send_from(alice, lambda: alice.root.append_child("para", {"text": "after the server's"}))
    assert server.doc.to_json() == alice.to_json()


def test_a_move_may_give_the_new_element_its_old_id_only_while_deleting_the_old_one() -> None:
    server = Server()
    server.doc.root.append_json({"para": {"$id": "moved", "text": "kept"}})
    server.doc.root.append_child("figure", {"src": "a.png"})
    ydoc, root = _plain_copy(server.doc)

    def move() -> None:
        with ydoc.transaction():
            del root.children[0]
            root.children.append(XmlElement("para", {"$id": "moved"}))

    server.send_from(ydoc, move)
    assert [child.tag_name for child in server.doc.root.get_children()] == ["figure", "para"]
    ydoc, root = _plain_copy(server.doc)
    with pytest.raises(UpdateRefusedError, match="'moved', which an element of the document holds"):
        server.send_from(ydoc, lambda: root.children.append(XmlElement("para", {"$id": "moved"})))


def test_a_participant_entry_is_deleted_only_by_its_rewrite() -> None:
    server = Server()
    alice: Doc[Any] = Doc()
    alice.apply_update(server.doc.get_update())
    register = alice.get(PARTICIPANTS_MAP, type=Map)
    server.send_from(alice, lambda: register.__setitem__(str(alice.client_id), "alice"))
    server.send_from(alice, lambda: register.__setitem__(str(alice.client_id), "alice b."))  # her own rewrite
    mallory: Doc[Any] = Doc()
    mallory.apply_update(server.doc.get_update())
    entries = [i.id for i in decode_update(server.doc.get_update()).items if i.values == ("alice b.",)]
    with pytest.raises(UpdateRefusedError, match="entry without writing it anew"):
        server.receive(craft_update(mallory.client_id, 0, [], {entries[0][0]: [(entries[0][1], 1)]}))
    # Overwriting it is the same delete, with a write of another client's name: refused too.
    theirs = mallory.get(PARTICIPANTS_MAP, type=Map)
    with pytest.raises(UpdateRefusedError, match="other than its own client's name"):
        server.send_from(mallory, lambda: theirs.__setitem__(str(alice.client_id), "mallory"))
    assert server.doc.ydoc.get(PARTICIPANTS_MAP, type=Map)[str(alice.client_id)] == "alice b."


def test_items_in_deleted_elements_follow_the_same_rules_and_leave_nothing() -> None:
    server = Server()
    alice = MeshDocument(schema=ARTICLE)
    alice.apply_update(server.doc.get_update())
    para = alice.root.append_child("para", {"text": "typed"})
    server.receive(alice.get_update(server.doc.get_state()))
    paragraph = next(i.id for i in decode_update(server.doc.get_update()).items if i.type_name == "para")
    # Bob deletes the paragraph while alice, who has not heard of it yet, keeps typing in it.
    server.doc.root.get_children()[0].delete()
    server.send_from(alice, lambda: para.insert_text(5, " on"))
    assert server.doc.to_json() == {"article": {"blocks": []}}
    with pytest.raises(UpdateRefusedError, match="text outside a text node"):
        server.receive(craft_update(4242, 0, [RawItem(paragraph, text="hidden")]))


def test_what_builds_on_items_the_replica_lacks_is_refused() -> None:
    server = Server()
    alice = MeshDocument(schema=ARTICLE)
    alice.apply_update(server.doc.get_update())
    alice.root.append_child("para", {"text": "one"})
    skipped = alice.get_update(server.doc.get_state())
    before = alice.get_state()
    alice.root.append_child("para", {"text": "two"})
    with pytest.raises(UpdateRefusedError, match="which this document lacks"):
        server.receive(alice.get_update(before))  # its own earlier clocks are missing
    server.receive(skipped)
    server.receive(alice.get_update(before))
    assert len(server.doc.root.get_children()) == 2


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_an_id_wider_than_64_bits_is_unreadable_as_it_is_to_yjs() -> None:
    server = Server()
    # One client, one struct: a GC struct of length 1, from a client id no Yjs encoder can write.
    for client in (2**64, 2**70):
        update = b"\x01\x01" + _var_uint(client) + b"\x00\x00\x01\x00"
        with pytest.raises(RemoteProtocolError):
            server.guard.check(update, server.guard.prepare())
    widest = b"\x01\x01" + _var_uint(2**64 - 1) + b"\x00\x00\x01\x00"
    assert decode_update(widest).items[0].id == (2**64 - 1, 0)


def test_a_text_held_where_no_text_is_declared_takes_no_characters() -> None:
    # Stored before the guard existed: a text node in a <figure>, which declares none.
    server = Server()
    ydoc, root = _plain_copy(server.doc)
    figure = root.children.append(XmlElement("figure", {"$id": "figure1"}))
    figure.children.append(XmlText("old"))
    server.doc.apply_update(ydoc.get_update(server.doc.get_state()))
    text = next(i.id for i in decode_update(server.doc.get_update()).items if i.type_ref == 6)
    with pytest.raises(UpdateRefusedError, match="declares no text"):
        server.receive(craft_update(4242, 0, [RawItem(text, text="more")]))


def test_a_moved_subtree_keeps_every_id_because_deleting_its_old_copy_deletes_its_children() -> None:
    sections = MeshSchema(
        root_tag_name="doc",
        elements=[
            ElementType(
                tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["section"])]
            ),
            ElementType(
                tag_name="section", properties=[ChildProperty(name="children", child_tag_names=["p"])]
            ),
            ElementType(tag_name="p", properties=[ValueProperty(name="text", type="string")]),
        ],
    )
    doc = MeshDocument(schema=sections)
    doc.root.append_json({"section": {"$id": "s1", "children": [{"p": {"$id": "p1", "text": "a"}}]}})
    doc.root.append_json({"section": {"$id": "s2"}})
    guard = UpdateGuard(doc)
    ydoc, root = _plain_copy(doc)
    state = ydoc.get_state()
    with ydoc.transaction():
        del root.children[0]
        section = root.children.append(XmlElement("section", {"$id": "s1"}))
        section.children.append(XmlElement("p", {"$id": "p1", "text": "a"}))
    update = ydoc.get_update(state)
    checked = guard.check(update, guard.prepare())
    doc.apply_update(update)
    guard.accept(checked)
    assert doc.to_json(include_ids=True)["doc"]["children"] == [
        {"section": {"$id": "s2", "children": []}},
        {"section": {"$id": "s1", "children": [{"p": {"$id": "p1", "text": "a"}}]}},
    ]


def test_after_twins_are_repaired_the_element_that_kept_the_id_can_still_be_moved() -> None:
    # Two nodes accepted one id concurrently (trusted from the bus); the repair renamed one twin.
    server = Server()
    ydoc, root = _plain_copy(server.doc)
    twins = []
    for text in ("one", "two"):
        copy: Doc[Any] = Doc()
        copy.apply_update(ydoc.get_update())
        copy_root = copy.get(FRAGMENT_NAME, type=XmlFragment).children[0]
        assert isinstance(copy_root, XmlElement)
        state = copy.get_state()
        copy_root.children.append(XmlElement("para", {"$id": "twin", "text": text}))
        twins.append(copy.get_update(state))
    for update in twins:
        checked = server.guard.check(update, server.guard.prepare(), trusted_ids=True)
        server.doc.apply_update(update)
        server.guard.accept(checked)
    assert server.doc.repair()
    kept = server.doc.element_by_id("twin")
    other = next(child for child in server.doc.root.get_children() if child.id != "twin")
    ydoc, root = _plain_copy(server.doc)
    position = [child.attributes["$id"] for child in root.children if isinstance(child, XmlElement)].index(
        "twin"
    )

    def move() -> None:
        with ydoc.transaction():
            del root.children[position]
            root.children.append(XmlElement("para", {"$id": "twin"}))

    server.send_from(ydoc, move)
    assert [child.id for child in server.doc.root.get_children()] == [other.id, "twin"]
    assert kept.id == "twin"
    ydoc, root = _plain_copy(server.doc)
    with pytest.raises(UpdateRefusedError, match="'twin', which an element of the document holds"):
        server.send_from(ydoc, lambda: root.children.append(XmlElement("para", {"$id": "twin"})))
