"""The interface between a room server node and the channel that carries its documents to other nodes.

A node alone needs no bus. Several nodes serving the same rooms share storage (PostgreSQL) and a bus
(:class:`~mesh_tools.server.RedisBus`); see docs/adr/0011-cluster.md. The contract the rooms rely on:

- ``publish_update`` is called, in commit order, with each update of a document once it is durable
  in the shared storage; every node following the document receives it (the publisher's own node
  does not). Nothing uncommitted ever crosses nodes, so a node's replica never holds an update that a
  crash could take back.
- ``position`` is read *before* a document is loaded from storage and ``follow`` then starts from it:
  whatever was committed after the load's snapshot arrives through the bus, so a node that opens a
  document late misses nothing. ``None`` (the bus is down) defers the catch-up to the reconnection.
- After losing its connection, the bus reloads every followed document from storage and applies it
  (CRDT updates are idempotent), then follows again from a fresh position.
- Awareness is best effort: relayed to the nodes following the document, never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._live_document import LiveDocument
    from ._storage import Storage

__all__ = ["DocumentBus"]


class DocumentBus(Protocol):
    """Fan-out of committed updates and awareness between the nodes that have a document open."""

    @property
    def available(self) -> bool:
        """True while connected: updates reach the other nodes as they are committed."""

    async def open(self, storage: Storage) -> None:
        """Connect; ``storage`` is where followed documents are reloaded from after a reconnection."""

    async def close(self) -> None:
        """Publish what is queued (while connected) and disconnect."""

    async def position(self, room: str, path: str) -> str | None:
        """Where the document's stream ends now; None if the bus is unreachable."""

    async def follow(self, document: LiveDocument, position: str | None) -> None:
        """Deliver the document's updates and awareness from other nodes, from ``position`` on."""

    def unfollow(self, document: LiveDocument) -> None:
        """Stop delivering to ``document`` (it is being unloaded)."""

    def publish_update(self, room: str, path: str, update: bytes) -> None:
        """Queue a committed update for the other nodes."""

    def publish_awareness(self, room: str, path: str, message: bytes) -> None:
        """Queue an awareness message for the other nodes."""
