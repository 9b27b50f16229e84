"""Deleting an element this replica inserted into a wide parent by its item id (an update holding only
its delete set) instead of by position: the same update, document, index and events as a delete by
position, under concurrent edits that move or delete those elements elsewhere.

docs/adr/0018-remote-changes-without-deep-events.md ("Deletes") says why: yrs walks the children before
a position, ~0.1-1 us each, and pycrdt tells no element's item id, so only the ids of what this replica
wrote itself are known.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment

from mesh_tools.document import (
    FRAGMENT_NAME,
    DocumentEvent,
    ElementDeleted,
    ElementInserted,
    MeshDocument,
    UpdateGuard,
)
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, ValueProperty

SCHEMA = MeshSchema(
    root_tag_name="doc",
    elements=[
        ElementType(
            tag_name="doc", properties=[ChildProperty(name="children", child_tag_names=["p", "section"])]
        ),
        ElementType(tag_name="section", properties=[ChildProperty(name="items", child_tag_names=["p"])]),
        ElementType(
            tag_name="p",
            properties=[ValueProperty(name="text", type="string"), ValueProperty(name="n", type="number")],
        ),
    ],
)
#: Wide enough that the index keeps the item ids of what this replica inserts there (ElementIndex).
WIDTH = 4100


def _wide_state() -> bytes:
    """A document whose root holds WIDTH paragraphs, written by another client (raw pycrdt: fast)."""
    doc: Doc[Any] = Doc()
    doc.apply_update(MeshDocument(schema=SCHEMA).get_update())
    root = doc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    with doc.transaction():
        for i in reversed(range(WIDTH)):  # each at 0: yrs walks to a position, so appends are O(n^2)
            root.children.insert(0, XmlElement("p", {"$id": f"w{i}", "text": "loaded", "n": i}))
    return doc.get_update()


WIDE = _wide_state()


def _replica(client_id: int) -> MeshDocument:
    doc = MeshDocument(schema=SCHEMA, client_id=client_id)
    doc.apply_update(WIDE)
    return doc


def _events(doc: MeshDocument) -> Counter[tuple[str, str]]:
    seen: Counter[tuple[str, str]] = Counter()

    def record(event: DocumentEvent) -> None:
        if isinstance(event, ElementInserted):
            seen["inserted", event.element.id] += 1
        elif isinstance(event, ElementDeleted):
            seen["deleted", event.element_id] += 1

    doc.observe(record)
    return seen


def test_a_delete_by_item_id_sends_the_update_a_delete_by_position_makes() -> None:
    doc = _replica(1)
    raw: Doc[Any] = Doc(client_id=2)
    raw.apply_update(WIDE)
    raw_root = raw.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(raw_root, XmlElement)
    ours = [doc.root.insert_child(at, "p", {"text": "mine", "n": at}) for at in (0, 2000, WIDTH)]
    raw.apply_update(doc.get_update(raw.get_state()))
    assert all(element.id in doc._index._items for element in ours)
    sent: list[bytes] = []
    doc.on_update(lambda update, origin: sent.append(update))
    by_position: list[bytes] = []
    raw.observe(lambda event: by_position.append(event.update))
    events = _events(doc)
    for element in ours:
        position = doc._index.position(element.id)
        element.delete()
        del raw_root.children[position]
        assert sent[-1] == by_position[-1]
        assert not element.is_alive and element.id not in doc._index._items
    assert events == Counter({("deleted", element.id): 1 for element in ours})
    fresh = _replica(3)
    fresh.apply_update(raw.get_update(fresh.get_state()))
    assert doc.to_json(include_ids=True) == fresh.to_json(include_ids=True)
    assert doc._index.kids == fresh._index.kids


def test_an_element_moved_by_another_replica_is_deleted_where_it_now_is() -> None:
    mine, theirs = _replica(1), _replica(2)
    element = mine.root.insert_child(10, "p", {"text": "mine", "n": 1})
    theirs.apply_update(mine.get_update(theirs.get_state()))
    # The other replica moves it: the item this replica wrote is deleted, a copy with its id inserted.
    theirs.element_by_id(element.id).move_to(theirs.root, 3000)
    mine.apply_update(theirs.get_update(mine.get_state()))
    assert mine._index.position(element.id) == 3000
    mine.element_by_id(element.id).delete()
    theirs.apply_update(mine.get_update(theirs.get_state()))
    assert theirs.get_element(element.id) is None and mine.get_element(element.id) is None
    assert mine.to_json(include_ids=True) == theirs.to_json(include_ids=True)
    assert len(mine.root.get_children()) == WIDTH


def test_a_move_within_the_wide_parent_deletes_the_original_by_its_item_and_keeps_the_handle() -> None:
    doc = _replica(1)
    element = doc.root.insert_child(5, "p", {"text": "mine", "n": 1})
    other = _replica(2)
    other.apply_update(doc.get_update(other.get_state()))
    moved = element.move_to(doc.root, 4000)
    assert moved is element and element.is_alive and doc._index.position(element.id) == 4000
    other.apply_update(doc.get_update(other.get_state()))
    assert other._index.position(element.id) == 4000
    element.delete()  # the copy, which the move wrote into the wide parent: by its item too
    other.apply_update(doc.get_update(other.get_state()))
    assert other.get_element(element.id) is None
    assert doc.to_json(include_ids=True) == other.to_json(include_ids=True)


_OPS = ("insert", "delete", "move", "their insert", "their delete", "their move", "sync")


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=14))
def test_replicas_deleting_by_item_and_by_position_converge(steps: list[tuple[str, int, int]]) -> None:
    """This replica inserts, deletes and moves in the wide parent (its own elements by item id, the
    others by position) while another replica does the same; the room server (the update guard's
    path) and a replica that only watches get every update: all end alike, as a fresh load of it."""
    mine, theirs = _replica(1), _replica(2)
    server, watcher = _replica(3), _replica(4)
    guard = UpdateGuard(server)
    guard.accept(guard.check(b"\x00\x00", guard.prepare()))
    sent = {mine: mine.get_state(), theirs: theirs.get_state()}
    inserted: dict[MeshDocument, list[str]] = {mine: [], theirs: []}

    def relay(source: MeshDocument, into: list[MeshDocument]) -> None:
        update = source.get_update(sent[source])
        sent[source] = source.get_state()
        for replica in into:
            replica.apply_update(update)
        checked = guard.check(update, guard.prepare())
        assert not server.apply_update(update, effects=checked.effects)
        guard.accept(checked)
        watcher.apply_update(update)

    for kind, pick, other in steps:
        doc = theirs if kind.startswith("their") else mine
        children = doc.root.get_children()
        # Every other pick is among what this replica inserted (deleted by item id while it holds it).
        own = [doc.element_by_id(i) for i in inserted[doc] if doc.get_element(i) is not None]
        element = own[pick % len(own)] if own and pick % 2 else children[pick % len(children)]
        if kind.endswith("insert"):
            new = doc.root.insert_child(other % (len(children) + 1), "p", {"text": "new", "n": other})
            inserted[doc].append(new.id)
        elif kind.endswith("delete"):
            element.delete()
        elif kind.endswith("move"):
            element.move_to(doc.root, other % len(children))
        else:
            relay(mine, [theirs])
            relay(theirs, [mine])
    relay(mine, [theirs])
    relay(theirs, [mine])
    expected = mine.to_json(include_ids=True)
    for replica in (theirs, server, watcher):
        assert replica.to_json(include_ids=True) == expected
    fresh = MeshDocument(schema=SCHEMA)
    fresh.apply_update(mine.get_update())
    for replica in (mine, theirs, server, watcher):
        assert replica._index.kids == fresh._index.kids
        assert set(replica._index._items) <= set(replica._index.elements)
