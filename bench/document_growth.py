"""Per-edit cost as a document grows (1k -> 10k -> 100k elements), beside raw pycrdt in the same run.

    python bench/document_growth.py [--sizes 1000,10000,100000] [--edits 50] [--shapes flat,tree]

What the room server pays for one small incoming update (the update guard + apply + schema check +
encoding the relay message), for a delete, an insert and an attribute change, in a flat list and in a
tree of sections; and a local ``Element.delete()``. The reference is a raw pycrdt ``Doc`` holding the
same state and applying the same updates (for the local delete: ``del children[i]`` on a raw
XmlElement). Target: our cost flat in the size, and within a small factor of the reference.

The ``raw+observer`` column is the reference with a no-op deep observer on the fragment: yrs computes
every event's path and delta eagerly (walking the target's siblings and children), so that is the
floor for anything that learns about remote changes from pycrdt's events.

Two more columns tell what of a delete's cost is pycrdt's own (docs/adr/0018, "Deletes"): ``raw
skip_gc`` is the reference on a ``Doc(skip_gc=True)``: with garbage collection on, yrs merges a deleted
element's collected items into one block at commit and removes the rest from the client's block
list, moving every block after them, so a raw delete costs in proportion to the document. ``raw by
id`` is a raw local delete made as an update holding only the element's delete set (its item id
found beforehand, outside the timing): yrs finds the item by a binary search, where ``del
children[i]`` walks the children before ``i``. Neither is a row of the summary, nor is the line
``local delete(), own inserts``: the replica deletes elements it inserted itself (at random places),
by item id where the parent is wide (its references are the local delete's).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from _summary import Topic, add_summary_argument, flat_in_size, record  # bench/ is on the path
from pycrdt import Doc, XmlElement, XmlFragment, create_update_message
from rich.console import Console
from rich.table import Table

from mesh_tools import ChildProperty, ElementType, MeshSchema, ValueProperty
from mesh_tools.document import FRAGMENT_NAME, ROOT_ID, MeshDocument, UpdateGuard

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
SECTION = 1000  # children per section in the tree shape
EMPTY_UPDATE = b"\x00\x00"


def build_state(size: int, shape: str) -> bytes:
    """A document of ``size`` elements built with raw pycrdt (fast), as one update."""
    doc: Doc[Any] = Doc()
    doc.apply_update(MeshDocument(schema=SCHEMA).get_update())  # the root every replica shares
    root = doc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    # Last first, each at 0: yrs walks the children to find a position, so appends would be O(n^2).
    with doc.transaction():
        if shape == "flat":
            for i in reversed(range(size)):
                root.children.insert(0, XmlElement("p", {"$id": f"p{i}", "text": "hello", "n": i}))
        else:
            for s in reversed(range(max(1, size // SECTION))):
                section = root.children.insert(0, XmlElement("section", {"$id": f"s{s}"}))
                for i in reversed(range(SECTION - 1)):
                    section.children.insert(0, XmlElement("p", {"$id": f"s{s}p{i}", "text": "hello", "n": i}))
    return doc.get_update()


def parents_of(doc: Doc[Any], shape: str) -> list[XmlElement]:
    root = doc.get(FRAGMENT_NAME, type=XmlFragment).children[0]
    assert isinstance(root, XmlElement)
    if shape == "flat":
        return [root]
    return [c for c in root.children if isinstance(c, XmlElement)]


KINDS = ("delete", "insert", "attribute")
#: The table's line for local deletes of elements the replica inserted itself.
OWN_INSERTS = "local delete(), own inserts"


def client_updates(state: bytes, shape: str, edits: int, seed: int = 1) -> dict[str, list[bytes]]:
    """``edits`` consecutive updates of each kind, in turn, made by a raw pycrdt client holding ``state``."""
    client: Doc[Any] = Doc()
    client.apply_update(state)
    parents = parents_of(client, shape)
    rng = random.Random(seed)
    updates: list[bytes] = []
    subscription = client.observe(lambda event: updates.append(event.update))
    by_kind: dict[str, list[bytes]] = {}
    for kind in KINDS:
        updates.clear()
        for e in range(edits):
            children = rng.choice(parents).children
            position = rng.randrange(len(children))
            if kind == "delete":
                del children[position]
            elif kind == "insert":
                children.insert(position, XmlElement("p", {"$id": f"new{e}", "text": "hi", "n": e}))
            else:
                child = children[position]
                assert isinstance(child, XmlElement)
                child.attributes["n"] = float(e)
        by_kind[kind] = list(updates)
    client.unobserve(subscription)
    return by_kind


def per_update(apply: Callable[[bytes], object], updates: list[bytes]) -> float:
    """Median seconds to apply one update of ``updates`` (in order)."""
    times = []
    for update in updates:
        start = time.perf_counter()
        apply(update)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def server_cost(state: bytes, by_kind: dict[str, list[bytes]]) -> dict[str, float]:
    doc = MeshDocument(schema=SCHEMA)
    doc.apply_update(state)
    guard = UpdateGuard(doc)
    # The guard's first check records every item the replica holds (a load's cost, not an edit's).
    guard.accept(guard.check(EMPTY_UPDATE, guard.prepare()))

    def apply(update: bytes) -> None:
        # As LiveDocument.apply does: the update guard, then apply and check, then the record.
        checked = guard.check(update, guard.prepare())
        if doc.apply_update(update, effects=checked.effects):
            raise AssertionError("a valid edit was reported as a violation")
        guard.accept(checked)
        create_update_message(update)

    return {kind: per_update(apply, by_kind[kind]) for kind in KINDS}


def raw_cost(
    state: bytes, by_kind: dict[str, list[bytes]], *, observed: bool = False, skip_gc: bool = False
) -> dict[str, float]:
    doc: Doc[Any] = Doc(skip_gc=skip_gc)
    doc.apply_update(state)
    if observed:
        fragment = doc.get(FRAGMENT_NAME, type=XmlFragment)
        subscription = fragment.integrated.observe_deep(lambda events: None)

    def apply(update: bytes) -> None:
        doc.apply_update(update)
        create_update_message(update)

    costs = {kind: per_update(apply, by_kind[kind]) for kind in KINDS}
    if observed:
        subscription.drop()
    return costs


def local_delete_ours(state: bytes, shape: str, edits: int, *, own: bool = False) -> float:
    """``own``: delete elements this replica inserted first (at random places), which it deletes by
    item id where their parent is wide; else elements that came with the load."""
    doc = MeshDocument(schema=SCHEMA)
    doc.apply_update(state)
    rng = random.Random(2)
    parents = [doc.element_by_id(ROOT_ID)] if shape == "flat" else doc.root.get_children()
    victims = []
    for e in range(edits):
        parent = rng.choice(parents)
        if own:
            at = rng.randrange(len(parent.get_children()) + 1)
            victims.append(parent.insert_child(at, "p", {"text": "mine", "n": e}))
        else:
            victims.append(rng.choice(parent.get_children()))
    victims = list({v.id: v for v in victims}.values())
    times = []
    for victim in victims:
        start = time.perf_counter()
        victim.delete()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def local_delete_raw(state: bytes, shape: str, edits: int, *, skip_gc: bool = False) -> float:
    doc: Doc[Any] = Doc(skip_gc=skip_gc)
    doc.apply_update(state)
    parents = parents_of(doc, shape)
    rng = random.Random(2)
    times = []
    for _ in range(edits):
        children = rng.choice(parents).children
        position = rng.randrange(len(children))
        start = time.perf_counter()
        del children[position]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def local_delete_raw_by_id(state: bytes, shape: str, edits: int) -> float:
    """The deletes of :func:`local_delete_raw`, each made as a local transaction applying an update that
    holds only the element's delete set. The update is read off a twin document making the same delete
    by position (untimed): pycrdt tells no element's item id."""
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    twin: Doc[Any] = Doc()
    twin.apply_update(state)
    deletions: list[bytes] = []
    subscription = twin.observe(lambda event: deletions.append(event.update))
    parents = parents_of(twin, shape)
    rng = random.Random(2)
    times = []
    for _ in range(edits):
        children = rng.choice(parents).children
        del children[rng.randrange(len(children))]
        start = time.perf_counter()
        with doc.transaction():
            doc.apply_update(deletions[-1])
        times.append(time.perf_counter() - start)
    twin.unobserve(subscription)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--shapes", default="flat,tree")
    add_summary_argument(parser)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table = Table(title="per-edit cost by document size, ms (median): ours (the server's path) vs raw pycrdt")
    for column in (
        "shape",
        "size",
        "what",
        "ours",
        "raw",
        "ratio",
        "raw+observer",
        "raw skip_gc",
        "raw by id",
    ):
        table.add_column(column, justify="right")
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for shape in args.shapes.split(","):
        for size in sizes:
            state = build_state(size, shape)
            # (what, ours, raw, raw+observer, raw skip_gc, raw by id)
            rows: list[tuple[str, float, float, float | None, float, float | None]] = []
            by_kind = client_updates(state, shape, args.edits)
            ours, raw = server_cost(state, by_kind), raw_cost(state, by_kind)
            floor = raw_cost(state, by_kind, observed=True)
            no_gc = raw_cost(state, by_kind, skip_gc=True)
            rows += [
                (f"remote {kind}", ours[kind], raw[kind], floor[kind], no_gc[kind], None) for kind in KINDS
            ]
            local_raw = local_delete_raw(state, shape, args.edits)
            local_no_gc = local_delete_raw(state, shape, args.edits, skip_gc=True)
            local_by_id = local_delete_raw_by_id(state, shape, args.edits)
            rows.append(
                (
                    "local delete()",
                    local_delete_ours(state, shape, args.edits),
                    local_raw,
                    None,
                    local_no_gc,
                    local_by_id,
                )
            )
            own = local_delete_ours(state, shape, args.edits, own=True)
            rows.append((OWN_INSERTS, own, local_raw, None, local_no_gc, local_by_id))
            for what, mine, reference, observed, skipping_gc, by_id in rows:
                if what != OWN_INSERTS:  # a table line, not a summary row
                    series.setdefault((shape, what), []).append((size, mine * 1e3, reference * 1e3))
                table.add_row(
                    shape,
                    f"{size:,}",
                    what,
                    f"{mine * 1e3:.3f}",
                    f"{reference * 1e3:.3f}",
                    f"{mine / reference:.1f}x",
                    "" if observed is None else f"{observed * 1e3:.3f}",
                    f"{skipping_gc * 1e3:.3f}",
                    "" if by_id is None else f"{by_id * 1e3:.3f}",
                )
    Console(width=130).print(table)  # wide enough for every column unwrapped
    topics = {"remote delete": Topic.SERVER_DELETE, "local delete()": Topic.LOCAL_DELETE}
    record(
        args.summary,
        (
            row
            for (shape, what), costs in series.items()
            for row in flat_in_size(
                topics.get(what, Topic.REMOTE_INSERT_ATTRIBUTE),
                f"{what}, {shape}",
                costs,
                unit="ms",
                reference_label="raw pycrdt",
            )
        ),
    )


if __name__ == "__main__":
    main()
