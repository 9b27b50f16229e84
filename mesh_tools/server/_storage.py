"""The storage interface of the room server: a per-document update log, snapshots and schemas.

Backends (SQLite embedded, PostgreSQL for clusters) implement :class:`Storage`. The contract the server
relies on:

- ``append_update`` is synchronous (it runs inside a CRDT commit) and keeps call order: updates of a
  document are stored in the order they were appended, and the returned future resolves once that
  update, and every update appended before it, is durable. It fails (never silently drops) if the write fails.
- ``load_document`` returns the updates to replay in order; a backend may compact the log into a
  snapshot (with ``pycrdt.merge_updates``, which keeps pending structs), never from a live document.
- The ``epoch`` is a random id fixed when the document is created; a backend rebuilt from anything but
  its own log must give the document a new epoch so clients drop their replicas instead of merging.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Storage", "StoredDocument"]


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as storage holds it: its schema (JSON), epoch, and the updates to replay in order."""

    schema: dict[str, Any]
    epoch: str
    updates: list[bytes]


class Storage(Protocol):
    """Durable room storage. All methods raise on failure; nothing is swallowed.

    A failure the backend cannot help (a full disk, a lost connection) raises StorageUnavailableError
    with the cause in words, never the driver's text; the backend keeps retrying and recovers by itself
    once the cause is gone.
    """

    @property
    def available(self) -> bool:
        """True while the backend can make writes durable: what the server's readiness check reports."""

    async def open(self) -> None:
        """Prepare the backend (create tables, start the writer)."""

    async def close(self) -> None:
        """Store everything appended so far, snapshot what was written, release the backend."""

    async def create_document(
        self, room: str, path: str, *, schema: dict[str, Any], epoch: str, update: bytes
    ) -> None:
        """Create a document with its schema and first update; DocumentExistsError if it exists."""

    async def load_document(self, room: str, path: str) -> StoredDocument | None:
        """The stored document, or None if there is none at ``path``."""

    def append_update(self, room: str, path: str, update: bytes) -> asyncio.Future[None]:
        """Queue an update of an existing document; the future resolves once it is durable."""

    async def flush(self) -> None:
        """Return once everything appended before the call is durable."""

    async def drain(self) -> None:
        """Return once the appends not yet stored are within the backend's bound (at once if they are).

        The server awaits this before reading a connection's next frame, so when storage lags, the
        sockets stop being read and writers slow down through TCP, instead of the queue growing.
        """

    async def list_documents(self, room: str) -> list[str]:
        """Paths of the room's documents, sorted."""

    async def put_schema(self, room: str, name: str, schema: dict[str, Any]) -> None:
        """Store (or replace) the schema ``.schemas/<name>.json`` of the room."""

    async def get_schema(self, room: str, name: str) -> dict[str, Any] | None:
        """The schema stored under ``name``, or None."""

    async def list_schemas(self, room: str) -> list[str]:
        """Names of the room's schemas, sorted."""
