"""Where the toolkit gets documents: a room session's ``sync`` client, or documents held in memory."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

from ..document import MeshDocument
from ..errors import DocumentNotFoundError, InvalidPathError
from ..schema import MeshSchema

__all__ = [
    "Authenticated",
    "ClosingSource",
    "DocumentSource",
    "InMemorySource",
    "RoomSession",
    "ShowsPresence",
    "Synchronizing",
]


@runtime_checkable
class DocumentSource(Protocol):
    """Opens documents by path; a ``RoomClient``'s ``sync`` satisfies it.

    ``open`` returns the live replica. If it has a ``synchronized`` awaitable (see
    :class:`Synchronizing`), the toolkit awaits it before the first read.
    """

    async def open(self, path: str) -> MeshDocument: ...


@runtime_checkable
class ClosingSource(Protocol):
    """A source whose opens must be released (a ``SyncClient`` counts references and flushes on close)."""

    async def close(self, path: str) -> None: ...


@runtime_checkable
class Synchronizing(Protocol):
    """A replica that is usable once ``synchronized`` resolves (a ``SyncedDocument``)."""

    @property
    def synchronized(self) -> Awaitable[None]: ...


@runtime_checkable
class ShowsPresence(Protocol):
    """A replica whose participant's presence says which element it works on (a ``SyncedDocument``)."""

    def focus(self, element_id: str | None) -> None: ...


@runtime_checkable
class Authenticated(Protocol):
    """A replica whose edits the room books to its token's participant name (a ``SyncedDocument``)."""

    @property
    def participant(self) -> str | None: ...


@runtime_checkable
class RoomSession(Protocol):
    """Anything with a ``sync`` document source, such as a connected ``RoomClient``."""

    @property
    def sync(self) -> DocumentSource: ...


class InMemorySource:
    """Documents of one schema held in this process, created empty on first open (offline use, tests)."""

    def __init__(self, schema: MeshSchema) -> None:
        self.schema = schema
        self.documents: dict[str, MeshDocument] = {}

    async def open(self, path: str, create: bool = True) -> MeshDocument:
        document = self.documents.get(path)
        if document is None:
            if not create:
                raise DocumentNotFoundError(f"there is no document at {path}", hint="create it first")
            if not path:
                raise InvalidPathError(
                    "a document path cannot be empty", hint="use a path such as 'notes.html'"
                )
            document = self.documents[path] = MeshDocument(schema=self.schema)
        return document
