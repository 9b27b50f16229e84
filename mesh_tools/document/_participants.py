"""The participant register: which participant each Yjs client id of a document writes for.

Every update names the Yjs client ids whose clocks it advances, but not the participants behind them.
The register is the document's root ``Map`` named ``participants`` (:data:`PARTICIPANTS_MAP`,
``{str(client id): participant name}``), outside the element tree so the schema does not see it. A
replica writes its own entry before its first edit; on a room, the server holds every entry to the
name of the token the writing connection was authenticated with (``server._live_document``), so a
name in a change feed is an identity, not a claim. See docs/document-layout.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pycrdt import Map, get_state

from ._layout import PARTICIPANTS_MAP
from ._replica import MeshDocument
from ._yjs_update import _Reader

__all__ = ["ParticipantRegister", "decode_state_vector", "writers_of"]


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
        names = dict.fromkeys(self.name_of(client) or f"client {client}" for client in clients)
        return ", ".join(names)

    def register(self, client: int, name: str, *, origin: Any = None) -> None:
        """Write ``client``'s entry (one transaction) unless it already says ``name``."""
        if self.name_of(client) != name:
            with self._document.ydoc.transaction(origin=origin):
                self._map[str(client)] = name


def writers_of(update: bytes, state: bytes) -> list[int]:
    """The Yjs clients an update writes for beyond ``state`` (a state vector): whose clocks it advances."""
    known = decode_state_vector(state)
    written = decode_state_vector(get_state(update))
    return [client for client, clock in written.items() if clock > known.get(client, 0)]


def decode_state_vector(state: bytes) -> dict[int, int]:
    """A Yjs state vector (``varuint count, (client, clock)*``) as ``{client: next clock}``."""
    reader = _Reader(state)
    clocks: dict[int, int] = {}
    for _ in range(reader.uint()):
        client = reader.uint()
        clocks[client] = reader.uint()
    return clocks
