"""Where every item of a replica sits: its parent, its map key, and what it holds, by Yjs item id.

A Yjs update names the parent only of an item with no neighbours; an item placed beside content the
replica already holds (typing into a text, an element inserted after a sibling, a map entry
overwritten) takes its parent and key from that neighbour. pycrdt offers no lookup of an item by id,
so the update guard keeps this record of every item the replica holds, fed by the updates it decodes
anyway, and resolves any item of an incoming update against it (docs/adr/0012-refusing-hostile-updates.md).

Items are kept as runs of consecutive clocks of one client that share a placement (typing a word is
one run), so the record grows with the document's elements and attributes, not with its keystrokes.
"""

from __future__ import annotations

import marshal
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from pycrdt import Encoder

from ..schema import ID_ATTRIBUTE
from ._layout import PARTICIPANTS_MAP
from ._yjs_update import Content, DecodedItem, ItemId

__all__ = ["FORGOTTEN", "Placement", "Placements", "covers", "encode_state_vector", "overlaps"]


class Placement(NamedTuple):
    """What an item holds and where it sits; ``parent`` None when nobody can tell (a GC'd item)."""

    #: A top-level type's name, the id of the item whose shared type holds it, or None if unknown.
    parent: str | ItemId | None
    #: The map key (an attribute name) of a map entry; None for an item in a sequence.
    key: str | None
    #: A :class:`Content` value.
    content: int
    #: The shared type it creates (a ``TypeRef`` value), and the element's tag.
    type_ref: int | None = None
    type_name: str | None = None


#: What a GC struct leaves: an item whose content and place Yjs has forgotten.
FORGOTTEN = Placement(None, None, Content.GC)

#: What placements share, interned: (parent if it is a name or None, key, content, type_ref, type_name,
#: whether the parent is an item, whose id the run keeps in its own columns).
_Shape = tuple["str | None", "str | None", int, "int | None", "str | None", bool]


class _Runs:
    """One client's runs, in columns of machine integers: sorted starts, their ends (exclusive), each
    run's shape (an index into :attr:`Placements._shapes`) and its parent item's id.

    A record holds a few runs per element (the element and each attribute, at consecutive clocks but
    each placed differently), so runs kept as objects (a named tuple, its parent's id tuple and the
    ints in both) cost ~1.4 KB an element; in columns a run costs 36 bytes. Yjs ids are at most 64-bit
    (the decoder refuses wider integers).
    """

    __slots__ = ("ends", "parent_clients", "parent_clocks", "shapes", "starts")

    def __init__(self) -> None:
        self.starts = array("Q")
        self.ends = array("Q")
        self.shapes = array("I")
        self.parent_clients = array("Q")
        self.parent_clocks = array("Q")

    def add(self, start: int, end: int, shape: int, parent: ItemId, extends: bool) -> None:
        """Record a run; ``extends``: it may continue the last run if that one is placed the same."""
        starts, ends = self.starts, self.ends
        if not starts or start >= ends[-1]:
            # The usual case: a client's next items, often continuing its last run.
            if (
                extends
                and starts
                and start == ends[-1]
                and self.shapes[-1] == shape
                and self.parent_clients[-1] == parent[0]
                and self.parent_clocks[-1] == parent[1]
            ):
                ends[-1] = end
                return
            starts.append(start)
            ends.append(end)
            self.shapes.append(shape)
            self.parent_clients.append(parent[0])
            self.parent_clocks.append(parent[1])
            return
        at = bisect_right(starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, end)
        self.shapes.insert(at, shape)
        self.parent_clients.insert(at, parent[0])
        self.parent_clocks.insert(at, parent[1])


class Placements:
    """The placement of every item recorded so far, and the state vector that covers them."""

    def __init__(self) -> None:
        self._clients: dict[int, _Runs] = {}
        self._shapes: list[_Shape] = []
        self._shape_numbers: dict[_Shape, int] = {}
        #: client -> the next clock not recorded; every clock below it is recorded.
        self.state: dict[int, int] = {}
        #: Element id -> the element items given it that still hold it, as far as recorded, oldest first:
        #: one packed item id (:func:`_pack`), or a tuple of them while several do.
        self._holders: dict[str, int | tuple[int, ...]] = {}
        #: Element item (packed) -> the id it was last given.
        self._ids: dict[int, str] = {}
        #: The participants register's entries not deleted yet: item id -> key (a client id).
        self.entries: dict[ItemId, str] = {}

    def get(self, item_id: ItemId) -> Placement | None:
        """The placement of the item holding ``item_id``; None if it was never recorded."""
        runs = self._clients.get(item_id[0])
        if runs is None:
            return None
        clock = item_id[1]
        at = bisect_right(runs.starts, clock) - 1
        return self._placement(runs, at) if at >= 0 and clock < runs.ends[at] else None

    def _placement(self, runs: _Runs, at: int) -> Placement:
        name, key, content, type_ref, type_name, in_item = self._shapes[runs.shapes[at]]
        parent = (runs.parent_clients[at], runs.parent_clocks[at]) if in_item else name
        # A plain tuple's construction: the class call costs as much again.
        return tuple.__new__(Placement, (parent, key, content, type_ref, type_name))

    def record(self, item: DecodedItem, place: Placement) -> None:
        self.record_all(((item, place),))

    def record_all(self, placed: Iterable[tuple[DecodedItem, Placement]]) -> None:
        """Record items with their placements, in their update's order.

        One loop with what it reads bound locally: the record of a loaded document takes every item of
        its state (four an element), on the way of its first edit (ADR 0012).
        """
        state = self.state
        clients = self._clients
        shape_numbers = self._shape_numbers
        for item, place in placed:
            client, clock = item.id
            recorded = state.get(client, 0)
            end = clock + item.length
            if end <= recorded:
                continue  # already recorded (a full state holds what this replica has)
            runs = clients.get(client)
            if runs is None:
                runs = clients[client] = _Runs()
            parent, key, content, type_ref, type_name = place
            shape_key: _Shape
            if isinstance(parent, tuple):
                shape_key = (None, key, content, type_ref, type_name, True)
                holder = parent
            else:
                shape_key = (parent, key, content, type_ref, type_name, False)
                holder = _NO_ITEM
            shape = shape_numbers.get(shape_key)
            if shape is None:
                shape = self._shape(shape_key)
            runs.add(max(clock, recorded), end, shape, holder, type_ref is None)
            state[client] = end
            if parent == PARTICIPANTS_MAP and key is not None:
                self.entries[item.id] = key
            elif key == ID_ATTRIBUTE and holder is parent and len(item.values) == 1:
                value = item.values[0]
                if isinstance(value, str):
                    self._give_id(_pack(holder), value)

    def _shape(self, shape: _Shape) -> int:
        number = self._shape_numbers.get(shape)
        if number is None:
            number = self._shape_numbers[shape] = len(self._shapes)
            self._shapes.append(shape)
        return number

    def holder(self, element_id: str) -> ItemId | None:
        """The element item that holds ``element_id`` now, as far as recorded."""
        items = self._holders.get(element_id)
        if items is None:
            return None
        return _unpack(items if isinstance(items, int) else items[-1])

    def element_id(self, element: ItemId) -> str | None:
        """The id the element item holds, if it is the only element recorded holding it."""
        packed = _pack(element)
        value = self._ids.get(packed)
        return value if value is not None and self._holders.get(value) == packed else None

    def _give_id(self, element: int, value: str) -> None:
        old = self._ids.get(element)
        if old is not None:
            self._drop_holder(old, element)
        self._ids[element] = value
        items = self._holders.get(value)
        # Most ids have one holder: kept bare, not in a container of one.
        self._holders[value] = element if items is None else (*_as_tuple(items), element)

    def _drop_holder(self, value: str, element: int) -> None:
        items = list(_as_tuple(self._holders[value]))
        items.remove(element)
        if not items:
            del self._holders[value]
        else:
            self._holders[value] = items[0] if len(items) == 1 else tuple(items)

    def forget_deleted(self, deletes: dict[int, list[tuple[int, int]]]) -> None:
        """Drop the participant entries and the id holders a delete set removes."""
        if self.entries:
            for entry in [e for e in self.entries if covers(deletes, e)]:
                del self.entries[entry]
        ids = self._ids
        for client, first, _, _, _ in self._reached(deletes):
            packed = client << 64 | first  # _pack, inlined: every run a delete reaches comes here
            if packed in ids:
                self._drop_holder(ids.pop(packed), packed)

    def deleted(self, deletes: dict[int, list[tuple[int, int]]]) -> Iterator[tuple[ItemId, int, Placement]]:
        """The recorded items a delete set reaches, as (first item, end clock, placement) per run,
        leaving out those whose parent item it deletes too (an element's attributes, deleted with it).

        An element is a run of its own: its item comes as the first item.
        """
        shapes = self._shapes
        for client, first, end, runs, at in self._reached(deletes):
            # Asked before the placement is built: most runs a burst's deletes reach are attributes.
            in_item = shapes[runs.shapes[at]][5]
            if in_item and covers(deletes, (runs.parent_clients[at], runs.parent_clocks[at])):
                continue
            yield (client, first), end, self._placement(runs, at)

    def _reached(
        self, deletes: dict[int, list[tuple[int, int]]]
    ) -> Iterator[tuple[int, int, int, _Runs, int]]:
        """(client, first clock, end clock, the client's runs, the run's index) per run a delete set
        reaches, without the placement (forgetting ids needs only where each run starts)."""
        for client, ranges in deletes.items():
            runs = self._clients.get(client)
            if runs is None:
                continue
            starts, ends = runs.starts, runs.ends
            for clock, length in ranges:
                end = clock + length
                at = max(bisect_right(starts, clock) - 1, 0)
                while at < len(starts) and starts[at] < end:
                    if ends[at] > clock:
                        yield client, max(starts[at], clock), min(ends[at], end), runs, at
                    at += 1

    def holds(self, deletes: dict[int, list[tuple[int, int]]], arriving: dict[int, int]) -> bool:
        """Whether every clock a delete set names is recorded or ``arriving`` (client -> the clock after
        the last of its items in the update the delete set comes with); else it reaches items nobody
        has seen yet."""
        state = self.state
        return all(
            clock + length <= max(state.get(client, 0), arriving.get(client, 0))
            for client, ranges in deletes.items()
            for clock, length in ranges
        )

    def to_bytes(self) -> bytes:
        """The whole record as bytes, for a check in another process of the same Python (marshal).

        A few C calls, no Python per item: the columns as they are, the dictionaries marshalled.
        """
        runs = {
            client: tuple(getattr(client_runs, column).tobytes() for column in _COLUMNS)
            for client, client_runs in self._clients.items()
        }
        return marshal.dumps((runs, self._shapes, self.state, self._holders, self._ids, self.entries))

    @classmethod
    def from_bytes(cls, data: bytes) -> Placements:
        """A record written by :meth:`to_bytes`."""
        runs, shapes, state, holders, ids, entries = marshal.loads(data)
        record = cls()
        for client, columns in runs.items():
            client_runs = record._clients[client] = _Runs()
            for column, values in zip(_COLUMNS, columns, strict=True):
                getattr(client_runs, column).frombytes(values)
        record._shapes = shapes
        record._shape_numbers = {shape: number for number, shape in enumerate(shapes)}
        record.state = state
        record._holders = holders
        record._ids = ids
        record.entries = entries
        return record

    def encoded_state(self) -> bytes:
        """The recorded state vector in Yjs's encoding, for ``Doc.get_update``."""
        return encode_state_vector(self.state.items())


#: A client's runs as :meth:`Placements.to_bytes` writes them.
_COLUMNS = ("starts", "ends", "shapes", "parent_clients", "parent_clocks")
#: The parent columns of a run whose parent is not an item.
_NO_ITEM: ItemId = (0, 0)


def _pack(item_id: ItemId) -> int:
    """An item id as one int (ids are at most 64-bit each): a third of a tuple of two ints."""
    return item_id[0] << 64 | item_id[1]


def _unpack(packed: int) -> ItemId:
    return packed >> 64, packed & 0xFFFF_FFFF_FFFF_FFFF


def _as_tuple(items: int | tuple[int, ...]) -> tuple[int, ...]:
    return (items,) if isinstance(items, int) else items


def encode_state_vector(entries: Iterable[tuple[int, int]]) -> bytes:
    """A Yjs v1 state vector: ``varUint(#clients)`` then ``varUint client, varUint clock`` each."""
    pairs = list(entries)
    encoder = Encoder()
    encoder.write_var_uint(len(pairs))
    for client, clock in pairs:
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
    return encoder.to_bytes()


def covers(deletes: dict[int, list[tuple[int, int]]], item_id: ItemId) -> bool:
    """Whether a delete set (client -> [(clock, length)]) deletes ``item_id``."""
    return overlaps(deletes, item_id[0], item_id[1], item_id[1] + 1)


def overlaps(deletes: dict[int, list[tuple[int, int]]], client: int, start: int, end: int) -> bool:
    """Whether a delete set (client -> [(clock, length)], sorted, apart and non-empty, as ``decode_update``
    gives it) deletes any of ``client``'s clocks from ``start`` to ``end`` (exclusive)."""
    ranges = deletes.get(client)
    if not ranges:
        return False
    # The last range starting before ``end`` is the only one that can reach past ``start``.
    at = bisect_left(ranges, (end,)) - 1
    return at >= 0 and start < ranges[at][0] + ranges[at][1]
