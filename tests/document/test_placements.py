"""The update guard's record of where items sit, kept in columns: it gives back exactly what was recorded."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Encoder

from mesh_tools.document._placements import Placement, Placements, covers, overlaps
from mesh_tools.document._yjs_update import Content, DecodedItem, TypeRef, decode_update
from mesh_tools.schema import ID_ATTRIBUTE

_WIDEST = 2**64 - 1

_places = st.builds(
    Placement,
    st.one_of(
        st.none(),
        st.sampled_from(["mesh", "participants"]),
        st.tuples(st.sampled_from([0, 7, _WIDEST]), st.sampled_from([0, 3, _WIDEST])),
    ),
    st.sampled_from([None, ID_ATTRIBUTE, "text"]),
    st.sampled_from([Content.ANY, Content.STRING, Content.TYPE, Content.GC]),
    st.sampled_from([None, TypeRef.XML_ELEMENT, TypeRef.XML_TEXT]),
    st.sampled_from([None, "p"]),
)
#: Per item: its client, how far before the client's next unrecorded clock it starts (a replica's
#: clocks have no gaps; before it: it overlaps what is recorded), its length, and its placement.
_items = st.lists(
    st.tuples(
        st.sampled_from([1, 2, _WIDEST]),
        st.integers(-3, 0),
        st.integers(1, 4),
        _places,
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(_items)
def test_every_recorded_clock_gives_back_its_placement_and_no_other_clock_gives_one(
    items: list[tuple[int, int, int, Placement]],
) -> None:
    record = Placements()
    expected: dict[tuple[int, int], Placement] = {}
    for client, offset, length, place in items:
        clock = max(record.state.get(client, 0) + offset, 0)
        record.record(DecodedItem((client, clock), length, place.content), place)
        # What an earlier item recorded stays; only clocks past it are new.
        for at in range(clock, clock + length):
            expected.setdefault((client, at), place)
    for client in (1, 2, _WIDEST, 3):
        for clock in range(record.state.get(client, 0) + 2):
            assert record.get((client, clock)) == expected.get((client, clock))


@settings(max_examples=100, deadline=None)
@given(_items, _items)
def test_a_record_read_back_from_its_bytes_answers_and_records_as_the_original(
    before: list[tuple[int, int, int, Placement]], after: list[tuple[int, int, int, Placement]]
) -> None:
    record = Placements()
    given_ids = 0
    for items in (before, after):
        for client, offset, length, place in items:
            clock = max(record.state.get(client, 0) + offset, 0)
            given_ids += 1
            item = DecodedItem((client, clock), length, place.content, values=(f"e{given_ids}",))
            record.record(item, place)
        copy = Placements.from_bytes(record.to_bytes())
        assert copy.state == record.state and copy.entries == record.entries
        for client in (1, 2, _WIDEST, 3):
            for clock in range(record.state.get(client, 0) + 2):
                assert copy.get((client, clock)) == record.get((client, clock))
        for number in range(1, given_ids + 1):
            assert copy.holder(f"e{number}") == record.holder(f"e{number}")
        record = copy  # the next items go into the copy: it records as the original would


def test_an_id_held_by_several_elements_goes_back_to_the_earlier_holder_as_they_go() -> None:
    record = Placements()
    holders = [(5, 0), (_WIDEST, 10), (6, 2)]
    for element in holders:
        element_item = DecodedItem(element, 1, Content.TYPE)
        record.record(element_item, Placement("mesh", None, Content.TYPE, TypeRef.XML_ELEMENT, "p"))
        given_id = DecodedItem((element[0], element[1] + 1), 1, Content.ANY, values=("a",))
        record.record(given_id, Placement(element, ID_ATTRIBUTE, Content.ANY))
    assert record.holder("a") == (6, 2)
    record.forget_deleted({6: [(2, 1)]})
    assert record.holder("a") == (_WIDEST, 10)
    # Renamed: the element no longer holds "a".
    record.record(
        DecodedItem((_WIDEST, 20), 1, Content.ANY, values=("b",)), Placement((_WIDEST, 10), ID_ATTRIBUTE, 8)
    )
    assert record.holder("a") == (5, 0) and record.holder("b") == (_WIDEST, 10)
    record.forget_deleted({5: [(0, 2)]})
    assert record.holder("a") is None


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 6)), max_size=12), st.integers(0, 70))
def test_a_delete_set_in_any_order_is_searched_as_the_clocks_it_names(
    ranges: list[tuple[int, int]], probe: int
) -> None:
    """Yjs writes a client's deleted ranges sorted and apart; a hostile update need not, and bisection
    over them must still answer exactly."""
    encoder = Encoder()
    encoder.write_var_uint(0)  # no structs
    encoder.write_var_uint(1)
    encoder.write_var_uint(7)
    encoder.write_var_uint(len(ranges))
    for clock, length in ranges:
        encoder.write_var_uint(clock)
        encoder.write_var_uint(length)
    deletes = decode_update(encoder.to_bytes()).deletes
    named = {clock + offset for clock, length in ranges for offset in range(length)}
    assert covers(deletes, (7, probe)) == (probe in named)
    assert overlaps(deletes, 7, probe, probe + 3) == bool(named & {probe, probe + 1, probe + 2})
    assert not covers(deletes, (8, probe))
    kept = deletes.get(7, [])
    assert all(length > 0 for _, length in kept)
    assert all(a + n < b for (a, n), (b, _) in itertools.pairwise(kept))
