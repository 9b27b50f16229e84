"""Who edited: the toolkit's side of the document's participant register (``document._participants``).

A toolkit writes its replica's entry once, before its first edit. On a room the name is the one in
the connection's token (the server refuses any other, so a participant cannot pass itself off as
another); elsewhere (an in-process source) it is the toolkit's ``participant``.
"""

from __future__ import annotations

from ..document import MeshDocument, ParticipantRegister
from ._source import Authenticated

__all__ = ["Authors"]


class Authors:
    """Writes this replica's entry in the register before its first edit."""

    def __init__(self, document: MeshDocument, participant: str | None) -> None:
        self._document = document
        self._participant = (
            document.participant if isinstance(document, Authenticated) else None
        ) or participant
        self._register = ParticipantRegister(document)
        self._registered = False

    def register(self) -> None:
        """Write this replica's name into the register (once); nothing without a name or write access."""
        if self._registered or self._participant is None or self._document.read_only:
            return
        self._registered = True
        self._register.register(self._document.ydoc.client_id, self._participant)
