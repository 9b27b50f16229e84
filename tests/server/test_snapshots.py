"""Snapshots: ``compact_updates`` drops overwritten content and keeps what a Doc could not integrate yet."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, merge_updates

from mesh_tools.server._snapshots import compact_updates


def _content(update: bytes) -> tuple[object, object, str]:
    doc: Doc = Doc()
    doc.apply_update(update)
    return doc.get("m", type=Map).to_py(), doc.get("a", type=Array).to_py(), str(doc.get("t", type=Text))


def _recording(client_id: int) -> tuple[Doc, list[bytes]]:
    doc: Doc = Doc(client_id=client_id)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return doc, updates


def test_overwritten_values_are_dropped() -> None:
    doc, updates = _recording(1)
    values = doc.get("m", type=Map)
    for i in range(2000):
        values[f"k{i % 20}"] = f"a value long enough to matter {i}"
    merged = merge_updates(*updates)
    compacted = compact_updates(*updates)
    assert len(compacted) <= len(doc.get_update())
    assert len(compacted) * 3 < len(merged)
    assert _content(compacted) == _content(merged)


def test_deletions_of_items_not_yet_seen_are_kept() -> None:
    doc, updates = _recording(1)
    items = doc.get("a", type=Array)
    items.append("x")
    items.append("y")
    del items[0]
    # Only the deletion is stored yet: a Doc cannot apply it, the snapshot must still carry it.
    snapshot = compact_updates(updates[2])
    assert _content(merge_updates(snapshot, updates[0], updates[1])) == (
        {},
        ["y"],
        "",
    )


# One edit: (which of two clients, kind, a small number).
_EDITS = st.lists(
    st.tuples(
        st.integers(0, 1), st.sampled_from(["set", "insert", "delete", "type", "sync"]), st.integers(0, 9)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60)
@given(edits=_EDITS, held=st.sets(st.integers(0, 60), max_size=5))
def test_a_compacted_log_loads_like_the_log_even_with_updates_held_back(
    edits: list[tuple[int, str, int]], held: set[int]
) -> None:
    """Any log, compacted without some of its updates that arrive later, loads to the same state."""
    clients = [_recording(1), _recording(2)]
    log: list[bytes] = []
    for who, kind, n in edits:
        doc, updates = clients[who]
        before = len(updates)
        if kind == "set":
            doc.get("m", type=Map)[f"k{n % 3}"] = n
        elif kind == "insert":
            items = doc.get("a", type=Array)
            items.insert(n % (len(items) + 1), n)
        elif kind == "delete":
            items = doc.get("a", type=Array)
            if len(items):
                del items[n % len(items)]
        elif kind == "type":
            text = doc.get("t", type=Text)
            text.insert(n % (len(text) + 1), str(n))
        else:
            other = clients[1 - who][0]
            other.apply_update(doc.get_update(other.get_state()))
        log += updates[before:]
    if not log:
        return
    kept = [update for i, update in enumerate(log) if i not in held]
    late = [update for i, update in enumerate(log) if i in held]
    expected = _content(merge_updates(*log))
    loaded = merge_updates(compact_updates(*kept), *late) if kept else merge_updates(*late)
    assert _content(loaded) == expected
