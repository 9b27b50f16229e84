"""A replica told what an update does (the update guard's UpdateEffects) ends as one that watched pycrdt's
events: the same index, the same events, the same violations, under concurrent edits of every kind.

The room server applies updates this way where the update alone tells what they do (docs/adr/0018-remote-
changes-without-deep-events.md); everything else still goes through the events, so the two must never
disagree.
"""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mesh_tools.document import (
    AttributeChanged,
    DocumentEvent,
    ElementDeleted,
    ElementInserted,
    MeshDocument,
    TextChanged,
    UpdateGuard,
)
from mesh_tools.errors import DocumentError
from mesh_tools.schema import ChildProperty, ElementType, MeshSchema, TextMark, TextProperty, ValueProperty

SCHEMA = MeshSchema(
    root_tag_name="article",
    elements=[
        ElementType(
            tag_name="article",
            properties=[
                ValueProperty(name="title", type="string"),
                ChildProperty(name="blocks", child_tag_names=["para", "figure", "section"]),
            ],
        ),
        ElementType(tag_name="section", properties=[ChildProperty(name="items", child_tag_names=["para"])]),
        ElementType(
            tag_name="para",
            properties=[
                ValueProperty(name="style", type="string", enum=["lead", "body"]),
                TextProperty(name="text", marks=["bold", TextMark("link", ["href"])]),
            ],
        ),
        ElementType(tag_name="figure", properties=[ValueProperty(name="src", type="string")]),
    ],
)


class Watcher:
    """A replica and every event it delivered, in a form two replicas can compare."""

    def __init__(self, doc: MeshDocument) -> None:
        self.doc = doc
        self.events: Counter[tuple[Any, ...]] = Counter()
        self.violations: list[str] = []
        doc.observe(self._record)

    def _record(self, event: DocumentEvent) -> None:
        if isinstance(event, ElementInserted):
            self.events["inserted", event.element.id, event.local] += 1
        elif isinstance(event, ElementDeleted):
            self.events["deleted", event.element_id, event.tag_name, event.local] += 1
        elif isinstance(event, AttributeChanged):
            key = ("attribute", event.element.id, event.name, event.old_value, event.new_value, event.local)
            self.events[key] += 1
        elif isinstance(event, TextChanged):
            self.events["text", event.element.id, event.local] += 1

    def index(self) -> dict[str, Any]:
        index = self.doc._index
        return {"parents": dict(index.parents), "kids": {k: list(v) for k, v in index.kids.items()}}


class GuardedWatcher(Watcher):
    """Applies as the room server does: checked by the guard, then applied with the effects it read."""

    def __init__(self, doc: MeshDocument) -> None:
        super().__init__(doc)
        self.guard = UpdateGuard(doc)
        self.told = 0

    def receive(self, update: bytes) -> None:
        checked = self.guard.check(update, self.guard.prepare())
        self.told += checked.effects is not None
        self.violations += sorted(repr(v) for v in self.doc.apply_update(update, effects=checked.effects))
        self.guard.accept(checked)


class EventWatcher(Watcher):
    def receive(self, update: bytes) -> None:
        self.violations += sorted(repr(v) for v in self.doc.apply_update(update))


_KINDS = ("append", "insert", "attribute", "remove", "bad value", "delete", "type", "cut", "mark", "move")
_edit = st.tuples(st.sampled_from(_KINDS), st.integers(0, 1), st.integers(0, 10**6), st.integers(0, 10**6))
_step = st.one_of(_edit, st.just(("sync", 0, 0, 0)))


def _edit_replica(doc: MeshDocument, kind: str, pick: int, other: int) -> None:
    """One edit of ``kind`` on an element chosen by ``pick`` (and ``other`` where two are needed)."""
    elements = list(doc)
    element = elements[pick % len(elements)]
    paras = [e for e in elements if e.tag_name == "para"]
    para = paras[pick % len(paras)] if paras else None
    if kind in ("append", "insert"):
        tag = ("para", "figure", "section")[other % 3]
        parent = element if element.tag_name in ("article", "section") else doc.root
        if parent.tag_name == "section":
            tag = "para"
        children = parent.get_children()
        at = other % (len(children) + 1) if kind == "insert" else len(children)
        parent.insert_child(at, tag, {"text": "new words"} if tag == "para" else {})
    elif kind == "attribute":
        if element.tag_name == "para":
            element.set_attribute("style", ("lead", "body")[other % 2])
        elif element.tag_name == "figure":
            element.set_attribute("src", f"{other}.png")
        elif element.tag_name == "article":
            element.set_attribute("title", f"title {other}")
    elif kind == "remove":
        name = {"para": "style", "figure": "src", "article": "title"}.get(element.tag_name)
        if name is not None:
            element.remove_attribute(name)
    elif kind == "bad value":
        # What only a raw update can do: a value the schema refuses, or null.
        with doc.transaction():
            element._xml.attributes["style"] = (None, 7.0, "loud")[other % 3]
    elif kind == "delete":
        if element.parent is not None:
            element.delete()
    elif kind == "type" and para is not None:
        para.insert_text(other % (len(para.text) + 1), "ab")
    elif kind == "cut" and para is not None and para.text:
        start = other % len(para.text)
        para.delete_text(start, min(len(para.text), start + 1 + other % 3))
    elif kind == "mark" and para is not None and para.text:
        start = other % len(para.text)
        para.format_text(start, len(para.text), {"bold": other % 2 == 0 or None})
    elif kind == "move" and element.parent is not None and element.tag_name != "section":
        target = doc.root if element.tag_name == "figure" else elements[other % len(elements)]
        if target.tag_name in ("article", "section") and target is not element:
            with suppress(DocumentError):  # a copy of a bad value is refused, and nothing is written
                element.move_to(target, 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(_step, min_size=3, max_size=30), st.booleans())
# Two clients write one value to one attribute at once: the write that loses is no change.
@example([("sync", 0, 0, 0), ("bad value", 0, 1, 1), ("bad value", 1, 1, 1)], False)
def test_a_replica_told_the_effects_ends_as_one_that_watched_the_events(
    steps: list[tuple[Any, ...]], whole_delete_sets: bool
) -> None:
    """``whole_delete_sets``: each edit travels as the difference from the state before it, which carries
    every deletion the client knows (as a resync does); else as its transaction's update (as live)."""
    seed = MeshDocument(schema=SCHEMA)
    seed.root.append_child("para", {"style": "lead", "text": "hello world"})
    section = seed.root.append_child("section")
    section.append_child("para", {"text": "inside"})
    seed.root.append_child("figure", {"src": "a.png"})
    start = seed.get_update()
    told, watched = GuardedWatcher(MeshDocument(schema=SCHEMA)), EventWatcher(MeshDocument(schema=SCHEMA))
    clients = [MeshDocument(schema=SCHEMA), MeshDocument(schema=SCHEMA)]
    for replica in (told, watched):
        replica.receive(start)
    sent: list[bytes] = []
    for client in clients:
        client.apply_update(start)
        client.on_update(lambda update, origin: sent.append(update) if origin is None else None)
    for kind, who, pick, other in steps:
        if kind == "sync":
            # The clients catch up with each other; until then their edits are concurrent.
            first, second = clients
            first.apply_update(second.get_update(first.get_state()))
            second.apply_update(first.get_update(second.get_state()))
            continue
        # Only one client moves: two moving one element at once are refused by the guard (ADR 0016).
        client = clients[0 if kind == "move" else who]
        before = client.get_state()
        sent.clear()
        _edit_replica(client, kind, pick, other)
        updates = [client.get_update(before)] if whole_delete_sets and sent else list(sent)
        for update in updates:
            for replica in (told, watched):
                replica.receive(update)
    assert told.doc.to_json(include_ids=True) == watched.doc.to_json(include_ids=True)
    assert told.index() == watched.index()
    assert told.events == watched.events
    assert told.violations == watched.violations


def test_edits_are_told_and_an_insert_beside_a_deleted_element_is_not() -> None:
    seed = MeshDocument(schema=SCHEMA)
    para = seed.root.append_child("para", {"text": "hello"})
    figure = seed.root.append_child("figure", {"src": "a.png"})
    server = GuardedWatcher(MeshDocument(schema=SCHEMA))
    server.receive(seed.get_update())
    assert server.told == 1  # elements inserted into the root, text typed into a new one

    def send(edit: Any) -> None:
        before = seed.get_state()
        edit()
        server.receive(seed.get_update(before))

    send(lambda: para.set_attribute("style", "body"))
    send(lambda: para.insert_text(5, " world"))
    send(lambda: para.format_text(0, 5, {"bold": True}))
    send(lambda: para.delete_text(0, 6))
    send(figure.delete)
    assert server.told == 6
    assert server.doc.to_json() == seed.to_json()
    assert server.events == Counter(
        {
            ("inserted", para.id, False): 1,
            ("inserted", figure.id, False): 1,
            ("attribute", para.id, "style", None, "body", False): 1,
            ("text", para.id, False): 3,
            ("deleted", figure.id, "figure", False): 1,
        }
    )
    # Inserted after the deleted figure: its place among what was deleted there is the events' to tell.
    send(lambda: seed.root.append_child("figure"))
    assert server.told == 6


def test_a_deleted_subtree_is_told_from_the_update_with_an_event_for_each_element() -> None:
    seed = MeshDocument(schema=SCHEMA)
    section = seed.root.append_child("section")
    paras = [section.append_child("para", {"style": "body", "text": f"words {n}"}) for n in range(3)]
    server = GuardedWatcher(MeshDocument(schema=SCHEMA))
    watcher = EventWatcher(MeshDocument(schema=SCHEMA))
    for replica in (server, watcher):
        replica.receive(seed.get_update())
        replica.events.clear()
    told = server.told
    before = seed.get_state()
    section.delete()
    deletion = seed.get_update(before)
    server.receive(deletion)
    watcher.receive(deletion)
    # Its delete set reaches the section, the paragraphs, their attributes and texts; all but the
    # section sit inside something the update deletes, so they resolve no holder and tell nothing.
    assert server.told == told + 1
    assert (
        server.events
        == watcher.events
        == Counter({("deleted", element.id, element.tag_name, False): 1 for element in [section, *paras]})
    )
    assert server.index() == watcher.index()
    assert server.doc.to_json() == watcher.doc.to_json() == seed.to_json()
    assert server.guard._placements.holder(paras[0].id) is None


def test_an_update_told_its_effects_and_applied_as_is_reaches_update_listeners_as_it_came() -> None:
    seed = MeshDocument(schema=SCHEMA)
    figure = seed.root.append_child("figure", {"src": "a.png"})
    server = GuardedWatcher(MeshDocument(schema=SCHEMA))
    server.receive(seed.get_update())
    relayed: list[bytes] = []
    server.doc.on_update(lambda update, origin: relayed.append(update))
    before = seed.get_state()
    figure.set_attribute("src", "b.png")
    update = seed.get_update(before)
    checked = server.guard.check(update, server.guard.prepare())
    assert checked.new_only and checked.effects is not None
    server.doc.apply_update(update, as_is=True, effects=checked.effects)
    assert relayed == [update]
    assert server.events["attribute", figure.id, "src", "a.png", "b.png", False] == 1
