"""Remote inserts indexed from the decoded update (docs/adr/0018-remote-changes-without-deep-events.md):
after concurrent inserts from several raw pycrdt writers, delivered live, merged or as state
differences, the replica told the effects holds the index a from-scratch load builds, the events and
violations of a replica that watched pycrdt's events, and handles that find their own CRDT elements.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment, XmlText, merge_updates

from mesh_tools.document import FRAGMENT_NAME, MeshDocument, UpdateGuard

from .test_update_effects import SCHEMA, EventWatcher, GuardedWatcher

WRITERS = 3


def _root(doc: Doc[Any]) -> XmlElement:
    root = doc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    return root


def _elements(parent: XmlElement) -> list[XmlElement]:
    """``parent`` and every element below it, depth first."""
    out, stack = [], [parent]
    while stack:
        element = stack.pop()
        out.append(element)
        stack.extend(c for c in element.children if isinstance(c, XmlElement))
    return out


class Writer:
    """A raw pycrdt client; ``pending`` holds its transactions' updates not delivered yet."""

    def __init__(self, number: int, start: bytes) -> None:
        self.number = number
        self.doc: Doc[Any] = Doc()
        self.doc.apply_update(start)
        self.count = 0
        self.pending: list[bytes] = []
        self.sent_state = self.doc.get_state()
        self.doc.observe(lambda event: self.pending.append(event.update))

    def new_id(self) -> str:
        self.count += 1
        return f"w{self.number}n{self.count}"

    def para(self, text: str | None) -> XmlElement:
        contents = [] if text is None else [XmlText(text)]
        return XmlElement("para", {"$id": self.new_id(), "style": "body"}, contents)

    def edit(self, kind: str, pick: int, other: int) -> None:
        root = _root(self.doc)
        elements = _elements(root)
        parents = [e for e in elements if e.tag in ("article", "section")]
        parent = parents[pick % len(parents)]
        children = parent.children
        at = other % (len(children) + 1)
        with self.doc.transaction():
            if kind == "para":
                children.insert(at, self.para(None))
            elif kind == "para with text":  # content in a new text: left to the events
                children.insert(at, self.para("words"))
            elif kind in ("typed", "typed inside", "marked"):
                para = children.insert(at, XmlElement("para", {"$id": self.new_id()}, [XmlText()]))
                text = para.children[0]
                assert isinstance(text, XmlText)
                text.insert(0, "a😀")
                text += "b"
                if kind == "typed inside":  # no longer characters one after another
                    text.insert(1, "c")
                elif kind == "marked":
                    text.format(0, 1, {"bold": True})
            elif kind == "empty text":
                children.insert(at, XmlElement("para", {"$id": self.new_id()}, [XmlText()]))
            elif kind == "subtree":
                tag = "section" if parent.tag == "article" else "para"
                inner = [self.para(None), self.para(None)] if tag == "section" else []
                children.insert(at, XmlElement(tag, {"$id": self.new_id()}, inner))
            elif kind == "build inside":
                # An element, then elements into it and beside it, in one transaction.
                section = children.insert(at, XmlElement("section", {"$id": self.new_id()}))
                section.children.insert(0, self.para(None))
                section.children.insert(0, self.para(None))
                section.children.insert(1, self.para(None))
                children.insert(at + 1, XmlElement("figure", {"$id": self.new_id(), "src": "x.png"}))
                children.insert(at, self.para(None))
            elif kind == "run":
                for offset in range(3):
                    children.insert(at + offset, self.para(None))
            elif kind == "delete" and len(children):
                del children[other % len(children)]
            elif kind == "bad":  # a figure inside a section breaks the schema
                children.insert(at, XmlElement("figure", {"$id": self.new_id(), "src": 3.0}))

    def since_sent(self) -> bytes:
        update = self.doc.get_update(self.sent_state)
        self.sent_state = self.doc.get_state()
        return update


_KINDS = (
    *("para", "para", "subtree", "build inside", "run", "delete", "bad"),
    *("empty text", "para with text", "typed", "typed inside", "marked"),
)
_edit = st.tuples(
    st.sampled_from(_KINDS), st.integers(0, WRITERS - 1), st.integers(0, 99), st.integers(0, 99)
)
_deliver = st.tuples(
    st.sampled_from(("live", "merged", "difference")), st.integers(0, 7), st.just(0), st.just(0)
)
_sync = st.tuples(st.just("sync"), st.integers(0, WRITERS - 1), st.integers(0, WRITERS - 1), st.just(0))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_edit, _edit, _deliver, _sync), min_size=4, max_size=40))
def test_inserts_told_from_the_update_index_as_a_fresh_load_does(steps: list[tuple[Any, ...]]) -> None:
    seed = MeshDocument(schema=SCHEMA)
    seed.root.append_child("para", {"style": "lead"})
    section = seed.root.append_child("section")
    section.append_child("para", {"style": "body"})
    seed.root.append_child("figure", {"src": "a.png"})
    start = seed.get_update()
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    for replica in (told, watched):
        replica.receive(start)
    writers = [Writer(number, start) for number in range(WRITERS)]

    def deliver(updates: list[bytes]) -> None:
        for update in updates:
            for replica in (told, watched):
                replica.receive(update)

    for kind, first, second, third in steps:
        if kind == "sync":
            # Two writers see each other's edits: what they write next builds on both.
            a, b = writers[first], writers[second]
            a.doc.apply_update(b.doc.get_update(a.doc.get_state()))
            b.doc.apply_update(a.doc.get_update(b.doc.get_state()))
        elif kind in ("live", "merged", "difference"):
            chosen = [w for w in writers if first >> w.number & 1] or writers
            if kind == "live":
                updates = [u for w in chosen for u in w.pending]
            elif kind == "merged":  # concurrent inserts of several writers in one update
                parts = [u for w in chosen for u in w.pending]
                updates = [merge_updates(*parts)] if parts else []
            else:
                updates = [w.since_sent() for w in chosen]
            for w in chosen:
                w.pending.clear()
                w.sent_state = w.doc.get_state()
            deliver(updates)
        else:
            writers[first].edit(kind, second, third)
    # Everything not delivered yet, one writer at a time.
    deliver([w.since_sent() for w in writers])

    assert told.doc.to_json(include_ids=True) == watched.doc.to_json(include_ids=True)
    assert told.index() == watched.index()
    assert told.events == watched.events
    assert told.violations == watched.violations
    fresh = MeshDocument(schema=SCHEMA)
    fresh.apply_update(told.doc.get_update())
    index = told.doc._index
    assert {k: list(v) for k, v in index.kids.items() if v} == {
        k: list(v) for k, v in fresh._index.kids.items() if v
    }
    assert index.parents == fresh._index.parents
    # Every handle, those of elements indexed from an update included, reaches its own CRDT element.
    for element in told.doc:
        assert element._xml.attributes.get("$id") == element.id
        assert element._xml.tag == element.tag_name


def test_concurrent_inserts_at_one_place_merged_into_one_update_are_placed_through_the_events() -> None:
    seed = MeshDocument(schema=SCHEMA)
    first = seed.root.append_child("para", {"style": "lead"})
    seed.root.append_child("para", {"style": "body"})
    start = seed.get_update()
    writers = [Writer(number, start) for number in range(2)]
    for writer in writers:
        _root(writer.doc).children.insert(1, writer.para(None))
    merged = merge_updates(*(u for w in writers for u in w.pending))
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    for replica in (told, watched):
        replica.receive(start)
        replica.events.clear()
        replica.receive(merged)
    assert told.index() == watched.index()
    assert (
        told.events
        == watched.events
        == Counter({("inserted", "w0n1", False): 1, ("inserted", "w1n1", False): 1})
    )
    # The second insert's origins are no longer neighbours once the first is in: the events place them.
    assert told.doc.element_by_id("w0n1")._node is not None
    assert told.doc._index.kids["root"][0] == first.id


def test_a_handle_indexed_from_an_update_reads_and_writes_its_element() -> None:
    seed = MeshDocument(schema=SCHEMA)
    for n in range(5):
        seed.root.append_child("figure", {"src": f"{n}.png"})
    server = MeshDocument(schema=SCHEMA)
    server.apply_update(seed.get_update())
    guard = UpdateGuard(server)
    guard.accept(guard.check(b"\x00\x00", guard.prepare()))
    before = seed.get_state()
    section = seed.root.insert_child(3, "section")
    section.append_child("para", {"style": "lead"})
    update = seed.get_update(before)
    checked = guard.check(update, guard.prepare())
    assert checked.effects is not None and len(checked.effects.inserted) == 1
    assert server.apply_update(update, effects=checked.effects) == []
    guard.accept(checked)
    told = server.element_by_id(section.id)
    assert told._node is None  # not read yet
    assert [c.tag_name for c in told.get_children()] == ["para"]
    told.get_children()[0].set_attribute("style", "body")
    told.append_child("para", {"style": "lead"})
    assert server.to_json() == {
        "article": {
            "blocks": [
                *({"figure": {"src": f"{n}.png"}} for n in range(3)),
                {"section": {"items": [{"para": {"style": s, "text": ""}} for s in ("body", "lead")]}},
                *({"figure": {"src": f"{n}.png"}} for n in range(3, 5)),
            ]
        }
    }


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("para", "run", "delete")), st.integers(0, 10**6)), max_size=30))
def test_inserts_into_a_wide_parent_keep_its_child_places_exact(edits: list[tuple[str, int]]) -> None:
    """Past 4096 children the index finds positions through ChildPlaces, which inserts must keep exact."""
    seed: Doc[Any] = Doc()
    seed.apply_update(MeshDocument(schema=SCHEMA).get_update())
    with seed.transaction():
        for n in reversed(range(5000)):
            _root(seed).children.insert(0, XmlElement("figure", {"$id": f"f{n}", "src": "a.png"}))
    start = seed.get_update()
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    writer = Writer(0, start)
    for replica in (told, watched):
        replica.receive(start)
    for kind, where in edits:
        writer.edit(kind, 0, where)
        for update in writer.pending:
            for replica in (told, watched):
                replica.receive(update)
        writer.pending.clear()
        # The deletes look their elements up by position: at the places the inserts noted.
        for replica in (told, watched):
            children = replica.doc.root.get_children()
            children[where % len(children)].delete()
    assert told.index() == watched.index()
    kids = told.doc._index.kids["root"]
    assert [told.doc._index.position(k) for k in kids if k is not None] == list(range(len(kids)))


def _burst(writer: MeshDocument, edits: list[tuple[str, int]]) -> None:
    """A writer's run of edits through the API, as an agent's tool calls make them: each is one update."""
    for kind, where in edits:
        children = writer.root.get_children()
        child = children[where % len(children)] if children else None
        if kind == "insert":
            writer.root.insert_child(where % (len(children) + 1), "para", {"style": "body"})
        elif kind == "restyle" and child is not None and child.tag_name == "para":
            child.set_attribute("style", ("lead", "body")[where % 2])
        elif kind == "unstyle" and child is not None and child.tag_name == "para":
            child.remove_attribute("style")
        elif kind == "delete" and child is not None:
            child.delete()


_BURST_KINDS = ("insert", "insert", "restyle", "unstyle", "delete")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_BURST_KINDS), st.integers(0, 10**6)), min_size=1, max_size=60),
    st.integers(0, 10**6),
)
def test_a_merged_burst_of_one_writer_is_told_from_the_update(
    edits: list[tuple[str, int]], seed: int
) -> None:
    """A client's queued edits reach the server merged into one update, which then writes attributes of
    new elements more than once and deletes elements it inserts: told from the update all the same."""
    start_doc = MeshDocument(schema=SCHEMA)
    for n in range(8):
        start_doc.root.append_child("para", {"style": ("lead", "body")[n % 2]})
    start = start_doc.get_update()
    writer = MeshDocument(schema=SCHEMA)
    writer.apply_update(start)
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    for replica in (told, watched):
        replica.receive(start)
        replica.events.clear()
    # An earlier burst, delivered: its deletes leave the tombstones later inserts are made beside.
    for burst in (edits[: seed % (len(edits) + 1)], edits[seed % (len(edits) + 1) :]):
        updates: list[bytes] = []
        stop = writer.on_update(lambda update, origin, into=updates: into.append(update))
        _burst(writer, burst)
        stop()
        if updates:
            merged = merge_updates(*updates)
            for replica in (told, watched):
                replica.receive(merged)
    assert (
        told.doc.to_json(include_ids=True)
        == watched.doc.to_json(include_ids=True)
        == writer.to_json(include_ids=True)
    )
    assert told.index() == watched.index()
    assert told.events == watched.events
    assert told.violations == watched.violations == []
    fresh = MeshDocument(schema=SCHEMA)
    fresh.apply_update(told.doc.get_update())
    assert {k: v for k, v in told.index()["kids"].items() if v} == {
        k: list(v) for k, v in fresh._index.kids.items() if v
    }
    for element in told.doc:
        assert element._xml.attributes.get("$id") == element.id


def test_a_burst_that_writes_new_elements_twice_and_deletes_some_needs_no_events() -> None:
    start_doc = MeshDocument(schema=SCHEMA)
    for _ in range(20):
        start_doc.root.append_child("para", {"style": "body"})
    start = start_doc.get_update()
    writer = MeshDocument(schema=SCHEMA)
    writer.apply_update(start)
    updates: list[bytes] = []
    writer.on_update(lambda update, origin: updates.append(update))
    new = [writer.root.insert_child(2 * n, "para", {"style": "body"}) for n in range(8)]
    for element in new[:4]:
        element.set_attribute("style", "lead")
    new[4].remove_attribute("style")
    new[5].delete()
    writer.root.get_children()[-1].delete()
    told = GuardedWatcher(MeshDocument(schema=SCHEMA))
    told.receive(start)
    told.receive(merge_updates(*updates))
    assert told.told == 2  # the start, and the burst: both without pycrdt's events
    assert told.doc.to_json(include_ids=True) == writer.to_json(include_ids=True)
    assert told.violations == []


@pytest.mark.parametrize(("merged", "reverse"), [(False, False), (False, True), (True, False)])
def test_concurrent_inserts_before_one_deleted_sibling_are_settled_from_the_crdt(
    merged: bool, reverse: bool
) -> None:
    """Yjs inserts beside deleted siblings too; two writers doing so at one place land in an order only
    the applied CRDT shows (Yjs orders them by client id), so the second is checked there once applied."""
    seed = MeshDocument(schema=SCHEMA)
    for _ in range(6):
        seed.root.append_child("para", {"style": "body"})
    seed.root.get_children()[3].delete()
    start = seed.get_update()
    writers = [Writer(number, start) for number in range(2)]
    for writer in writers:
        _root(writer.doc).children.insert(3, writer.para(None))  # after the third, before the tombstone
    updates = [u for w in (reversed(writers) if reverse else writers) for u in w.pending]
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    for replica in (told, watched):
        replica.receive(start)
    told.told = 0
    for replica in (told, watched):
        for update in [merge_updates(*updates)] if merged else updates:
            replica.receive(update)
    assert told.told == (1 if merged else 2)  # told from the updates, not pycrdt's events
    assert told.index() == watched.index()
    assert told.events == watched.events
    assert told.doc._index.kids["root"] == [element.id for element in told.doc.root.get_children()]
