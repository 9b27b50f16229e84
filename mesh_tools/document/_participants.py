"""The participant register: which participant each Yjs client id of a document writes for.

Every update names the Yjs client ids whose clocks it advances, but not the participants behind them.
The register is the document's root ``Map`` named ``participants`` (:data:`PARTICIPANTS_MAP`,
``{str(client id): participant name}``), outside the element tree so the schema does not see it. A
replica writes its own entry before its first edit. On a room, the server refuses an entry that is
not the name in the writing connection's token, and any write as a client registered to another
participant (``server._live_document``), so a name in a change feed is an identity, not a claim.
See docs/document-layout.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pycrdt import Map

from ._layout import PARTICIPANTS_MAP
from ._yjs_update import Content, DecodedItem, decode_state_vector

if TYPE_CHECKING:  # the update guard imports this module, and the replica never needs it
    from ._replica import MeshDocument

__all__ = ["Claims", "ParticipantRegister", "claims_in", "decode_state_vector"]


class ParticipantRegister:
    """Reads and writes one replica's register."""

    def __init__(self, document: MeshDocument) -> None:
        self._document = document
        self._map: Map[Any] = document.ydoc.get(PARTICIPANTS_MAP, type=Map)

    def name_of(self, client: int) -> str | None:
        """The participant registered for a Yjs client id, if any."""
        name = self._map.get(str(client))
        return name if isinstance(name, str) else None

    def names(self, clients: Iterable[int]) -> str:
        """The participants behind these Yjs clients: registered names, else ``client <id>``."""
        return ", ".join(dict.fromkeys(_name(self.name_of(client), client) for client in clients))

    def register(self, client: int, name: str) -> None:
        """Write ``client``'s entry (one transaction) unless it already says ``name``."""
        if self.name_of(client) != name:
            with self._document.transaction():
                self._map[str(client)] = name


def _name(registered: str | None, client: int) -> str:
    return f"client {client}" if registered is None else registered


@dataclass(frozen=True, slots=True)
class Claims:
    """What an update says about who wrote it."""

    writers: tuple[int, ...]
    """The Yjs clients it writes for beyond the replica's state (whose clocks it advances)."""
    names: dict[int, Any]
    """The register entries it writes: client id to the value given."""


def claims_in(items: Iterable[DecodedItem]) -> Claims:
    """Who an update writes for and which names it registers, from its structs a replica lacks
    (``decode_update(update, state)``); the update guard reads them from its own decode.

    From the structs, not from a state vector of the update itself: Yjs leaves out of that every
    client whose structs do not start at clock 0, which is any client's second update.
    """
    writers: dict[int, None] = {}
    names: dict[int, Any] = {}
    for item in items:
        if item.content == Content.SKIP:
            continue
        writers[item.id[0]] = None
        if item.parent == PARTICIPANTS_MAP and item.key is not None and item.key.isdigit():
            names[int(item.key)] = item.values[0] if len(item.values) == 1 else item.values
    return Claims(tuple(writers), names)
