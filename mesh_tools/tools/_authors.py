"""Who edited: the document's participant register, Yjs client id to participant name.

Every update names the Yjs client ids whose clocks it advances, but not the participants behind them.
A toolkit that knows its participant name writes ``{client id: name}`` into the document's root
``Map`` named ``participants`` (outside the element tree, so the schema does not see it), once, before
its first edit; every replica then learns it with the document's updates. See
docs/document-layout.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pycrdt import Map

from ..document import PARTICIPANTS_MAP, MeshDocument

__all__ = ["Authors"]


class Authors:
    """Reads the register, and writes this replica's entry before its first edit."""

    def __init__(self, document: MeshDocument, participant: str | None) -> None:
        self._document = document
        self._participant = participant
        self._register: Map[Any] = document.ydoc.get(PARTICIPANTS_MAP, type=Map)
        self._registered = False

    def register(self) -> None:
        """Write this replica's name into the register (once); nothing without a name or write access."""
        if self._registered or self._participant is None or self._document.read_only:
            return
        self._registered = True
        self._register[str(self._document.ydoc.client_id)] = self._participant

    def names(self, clients: Iterable[int]) -> str:
        """The participants behind these Yjs clients: registered names, else ``client <id>``."""
        names = dict.fromkeys(
            str(self._register.get(str(client)) or f"client {client}") for client in clients
        )
        return ", ".join(names)
