"""ChildPlaces finds a child in a wide parent's list exactly, however the list changed since it looked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_tools.document._index import ChildPlaces

_edit = st.tuples(st.sampled_from(["insert", "delete", "find", "splice"]), st.integers(0, 10**6))


@settings(max_examples=80)
@given(st.integers(1, 2_000), st.lists(_edit, max_size=300))
def test_every_find_gives_what_a_search_of_the_list_gives(width: int, edits: list[tuple[str, int]]) -> None:
    kids: list[str | None] = [f"c{i}" if i % 7 else None for i in range(width)]
    places = ChildPlaces(kids)
    fresh = 0
    for kind, pick in edits:
        if kind == "insert":
            fresh += 1
            kids.insert(pick % (len(kids) + 1), f"n{fresh}")
        elif kind == "delete" and len(kids) > 1:
            del kids[pick % len(kids)]
        elif kind == "splice":
            # Many entries at once, before most children: they all move far.
            at = pick % (len(kids) + 1)
            kids[at:at] = [f"s{fresh}-{i}" for i in range(300)]
            fresh += 1
        named = [kid for kid in kids if kid is not None]
        if named:
            wanted = named[pick % len(named)]
            assert places.find(wanted, kids) == kids.index(wanted)
