"""A room: the documents its participants work on, loaded on demand and unloaded when unused.

Loading is single-flight (concurrent opens of one path share one load) and a document is unloaded as
soon as the last subscriber or request lets go of it, which also unobserves its pycrdt ``Doc`` so the
memory is freed.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Sequence
from typing import Any

from ..document import DocumentLimits, MeshDocument
from ..errors import DocumentNotFoundError, SchemaError
from ..schema import MeshSchema
from ._bus import DocumentBus
from ._live_document import LiveDocument
from ._paths import SCHEMA_DIR, schema_name_for
from ._storage import Storage

__all__ = ["Room"]

#: Origin of the stored updates replayed into a freshly loaded document (not stored again).
_LOAD_ORIGIN = "mesh-tools-load"
#: Describe answers kept for documents unloaded unchanged since they were described (most recent).
_KEPT_DESCRIPTIONS = 4


class Room:
    """The documents of one room."""

    def __init__(
        self,
        name: str,
        storage: Storage,
        bus: DocumentBus | None = None,
        limits: DocumentLimits | None = None,
    ) -> None:
        self.name = name
        self.storage = storage
        self.bus = bus
        #: Depth and size limits of every document of the room.
        self.limits = limits or DocumentLimits()
        self.participants = 0
        self._documents: dict[str, LiveDocument] = {}
        self._loading: dict[str, asyncio.Task[LiveDocument]] = {}
        self._waiting: dict[str, int] = {}
        #: path -> the describe answer of a document unloaded unchanged since (oldest first).
        self._descriptions: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<Room {self.name!r} documents={len(self._documents)} participants={self.participants}>"

    @property
    def documents(self) -> dict[str, LiveDocument]:
        """The documents loaded right now, by path."""
        return dict(self._documents)

    @property
    def idle(self) -> bool:
        return not (self.participants or self._documents or self._loading)

    async def acquire(self, path: str) -> LiveDocument:
        """The loaded document at ``path`` with one more hold; pair with ``release()``.

        DocumentNotFoundError if there is none.
        """
        while True:
            live = self._documents.get(path)
            if live is None:
                live = await self._wait_for_load(path)
            # Unloaded while this request waited for the load to finish: load it again.
            if not live.closed:
                live.holds += 1
                return live

    async def describe(self, path: str) -> str:
        """The ``sync.describe`` result for ``path`` as JSON text (LiveDocument.describe).

        Nobody holding a document, each of several pipelined describes would load it again (seconds
        for a big one); the answer of a document unloaded unchanged is kept instead. Alone, this server
        is the only writer, and every write loads the document first; with a bus, other nodes write
        without this one knowing, so nothing is kept.
        """
        kept = self._descriptions.get(path)
        if kept is not None and path not in self._documents:
            return kept
        live = await self.acquire(path)
        try:
            return await live.describe()
        finally:
            live.release()

    async def create(self, path: str, *, data: dict[str, Any] | None, schema: MeshSchema | None) -> None:
        """Create a document (DocumentExistsError if it exists) from optional document JSON.

        Without ``schema``, the room's schema for the path's extension applies.
        """
        if schema is None:
            schema = await self.schema_for(path)
        doc = MeshDocument(schema=schema, limits=self.limits)
        if data is not None:
            doc.load_json(data)
        try:
            update = doc.get_update()
        finally:
            doc.close()
        await self.storage.create_document(
            self.name, path, schema=schema.to_json(), epoch=secrets.token_urlsafe(12), update=update
        )

    async def schema_for(self, path: str) -> MeshSchema:
        """The schema the room keeps at ``.schemas/<extension>.json``."""
        name = schema_name_for(path)
        data = await self.storage.get_schema(self.name, name)
        if data is None:
            raise SchemaError(
                f"room {self.name!r} has no schema {SCHEMA_DIR}/{name}.json for {path!r}",
                hint=f"store one with schema.put name={name!r}, or pass a schema to sync.create",
            )
        return MeshSchema.from_json(data)

    def close(self) -> None:
        """Unload every document (server shutdown, after every connection closed)."""
        for live in list(self._documents.values()):
            self._unload(live)

    async def _wait_for_load(self, path: str) -> LiveDocument:
        # One load task per path, shared by every request that needs it and not cancelled with any.
        task = self._loading.get(path)
        if task is None:
            task = self._loading[path] = asyncio.create_task(self._load(path), name=f"load {path}")
            task.add_done_callback(functools.partial(self._loaded, path))
        self._waiting[path] = self._waiting.get(path, 0) + 1
        try:
            live = await asyncio.shield(task)
        except asyncio.CancelledError:
            self._stop_waiting(path)
            self._unload_if_unheld(path)
            raise
        except BaseException:
            self._stop_waiting(path)
            raise
        # The caller takes its hold before yielding to the loop, so the document cannot slip away.
        self._stop_waiting(path)
        return live

    def _stop_waiting(self, path: str) -> None:
        self._waiting[path] -= 1
        if not self._waiting[path]:
            del self._waiting[path]

    def _loaded(self, path: str, task: asyncio.Task[LiveDocument]) -> None:
        del self._loading[path]
        if task.cancelled() or task.exception() is not None:
            return
        self._documents[path] = task.result()
        self._descriptions.pop(path, None)  # the loaded document answers, and may change
        self._unload_if_unheld(path)

    def _unload_if_unheld(self, path: str) -> None:
        # Every request that waited for this load gave up: nobody will ever release the document.
        live = self._documents.get(path)
        if live is not None and live.holds == 0 and not self._waiting.get(path):
            self._unload(live)

    async def _load(self, path: str) -> LiveDocument:
        # Where the bus stands before the load: what other nodes commit after it arrives from there.
        position = await self.bus.position(self.name, path) if self.bus is not None else None
        stored = await self.storage.load_document(self.name, path)
        if stored is None:
            raise DocumentNotFoundError(
                f"room {self.name!r} has no document {path!r}", hint="create it, or open it with create=true"
            )
        # A big document takes seconds to replay: a worker thread does it while other documents are served.
        doc = await asyncio.to_thread(
            _replay, MeshSchema.from_json(stored.schema), self.limits, stored.updates
        )
        live = LiveDocument(
            room=self.name,
            path=path,
            doc=doc,
            epoch=stored.epoch,
            storage=self.storage,
            on_idle=self._unload,
            bus=self.bus,
        )
        # A log written under an older schema, or by an older server, is mended once, on load.
        await live.mend_on_worker()
        if self.bus is not None:
            await self.bus.follow(live, position)
        return live

    def _unload(self, live: LiveDocument) -> None:
        if self._documents.get(live.path) is live:
            del self._documents[live.path]
            if self.bus is None and live.durable and (description := live.description) is not None:
                self._descriptions[live.path] = description
                while len(self._descriptions) > _KEPT_DESCRIPTIONS:
                    del self._descriptions[next(iter(self._descriptions))]
        if self.bus is not None:
            self.bus.unfollow(live)
        live.close()


def _replay(schema: MeshSchema, limits: DocumentLimits, updates: Sequence[bytes]) -> MeshDocument:
    doc = MeshDocument(schema=schema, limits=limits)
    # Replay in log order: out-of-order replay can leave structs pending. Violations are mended once,
    # over the whole document, by LiveDocument.mend_on_worker.
    for update in updates:
        doc.apply_update(update, origin=_LOAD_ORIGIN)
    return doc
