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

from bisect import bisect_right
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


class _Runs:
    """One client's runs: sorted starts, their ends (exclusive) and placements."""

    __slots__ = ("ends", "places", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.places: list[Placement] = []

    def find(self, clock: int) -> int:
        """The index of the run holding ``clock``, or -1."""
        at = bisect_right(self.starts, clock) - 1
        return at if at >= 0 and clock < self.ends[at] else -1

    def add(self, start: int, end: int, place: Placement) -> None:
        if self.starts and start >= self.ends[-1]:
            # The usual case: a client's next items, often continuing its last run.
            if start == self.ends[-1] and self.places[-1] == place and place.type_ref is None:
                self.ends[-1] = end
                return
            self.starts.append(start)
            self.ends.append(end)
            self.places.append(place)
            return
        at = bisect_right(self.starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, end)
        self.places.insert(at, place)


class Placements:
    """The placement of every item recorded so far, and the state vector that covers them."""

    def __init__(self) -> None:
        self._clients: dict[int, _Runs] = {}
        #: client -> the next clock not recorded; every clock below it is recorded.
        self.state: dict[int, int] = {}
        #: Element id -> the element items given it that still hold it, as far as recorded, oldest first.
        self._holders: dict[str, list[ItemId]] = {}
        #: Element item -> the id it was last given.
        self._ids: dict[ItemId, str] = {}
        #: The participants register's entries not deleted yet: item id -> key (a client id).
        self.entries: dict[ItemId, str] = {}

    def get(self, item_id: ItemId) -> Placement | None:
        """The placement of the item holding ``item_id``; None if it was never recorded."""
        runs = self._clients.get(item_id[0])
        if runs is None:
            return None
        at = runs.find(item_id[1])
        return None if at < 0 else runs.places[at]

    def record(self, item: DecodedItem, place: Placement) -> None:
        client, clock = item.id
        end = clock + item.length
        if end <= self.state.get(client, 0):
            return  # already recorded (a full state holds what this replica has)
        runs = self._clients.get(client)
        if runs is None:
            runs = self._clients[client] = _Runs()
        start = max(clock, self.state.get(client, 0))
        runs.add(start, end, place)
        self.state[client] = end
        if place.parent == PARTICIPANTS_MAP and place.key is not None:
            self.entries[item.id] = place.key
        elif place.key == ID_ATTRIBUTE and isinstance(place.parent, tuple) and len(item.values) == 1:
            value = item.values[0]
            if isinstance(value, str):
                self._give_id(place.parent, value)

    def holder(self, element_id: str) -> ItemId | None:
        """The element item that holds ``element_id`` now, as far as recorded."""
        items = self._holders.get(element_id)
        return items[-1] if items else None

    def element_id(self, element: ItemId) -> str | None:
        """The id the element item holds, if it is the only element recorded holding it."""
        value = self._ids.get(element)
        return value if value is not None and self._holders.get(value) == [element] else None

    def _give_id(self, element: ItemId, value: str) -> None:
        old = self._ids.get(element)
        if old is not None:
            self._drop_holder(old, element)
        self._ids[element] = value
        self._holders.setdefault(value, []).append(element)

    def _drop_holder(self, value: str, element: ItemId) -> None:
        items = self._holders[value]
        items.remove(element)
        if not items:
            del self._holders[value]

    def forget_deleted(self, deletes: dict[int, list[tuple[int, int]]]) -> None:
        """Drop the participant entries and the id holders a delete set removes."""
        for entry in [e for e in self.entries if covers(deletes, e)]:
            del self.entries[entry]
        for element, _, _ in self.deleted(deletes):
            if element in self._ids:
                self._drop_holder(self._ids.pop(element), element)

    def deleted(self, deletes: dict[int, list[tuple[int, int]]]) -> Iterator[tuple[ItemId, int, Placement]]:
        """The recorded items a delete set reaches, as (first item, end clock, placement) per run.

        An element is a run of its own: its item comes as the first item.
        """
        for client, ranges in deletes.items():
            runs = self._clients.get(client)
            if runs is None:
                continue
            for clock, length in ranges:
                at = max(bisect_right(runs.starts, clock) - 1, 0)
                while at < len(runs.starts) and runs.starts[at] < clock + length:
                    if runs.ends[at] > clock:
                        first = max(runs.starts[at], clock)
                        yield (client, first), min(runs.ends[at], clock + length), runs.places[at]
                    at += 1

    def holds(self, deletes: dict[int, list[tuple[int, int]]]) -> bool:
        """Whether every clock a delete set names is recorded (else it reaches items not seen yet)."""
        return all(
            clock + length <= self.state.get(client, 0)
            for client, ranges in deletes.items()
            for clock, length in ranges
        )

    def encoded_state(self) -> bytes:
        """The recorded state vector in Yjs's encoding, for ``Doc.get_update``."""
        return encode_state_vector(self.state.items())


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
    """Whether a delete set deletes any of ``client``'s clocks from ``start`` to ``end`` (exclusive)."""
    return any(clock < end and start < clock + length for clock, length in deletes.get(client, ()))
