"""A room: the documents its participants work on, loaded on demand and unloaded when unused.

Loading is single-flight (concurrent opens of one path share one load) and a document is unloaded once
the last subscriber or request lets go of it, at once or, with ``keep_loaded``, after that many seconds
unused (so a tool that opens, reads and closes a big document does not reload it every call); unloading
also unobserves its pycrdt ``Doc`` so the memory is freed, and tells the ``trimmer`` to hand it back to
the operating system.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from ..document import DocumentLimits, MeshDocument
from ..errors import DocumentNotFoundError, SchemaError
from ..schema import MeshSchema
from ._bus import DocumentBus
from ._byte_budget import ByteBudget
from ._live_document import LiveDocument
from ._memory import MemoryTrimmer
from ._paths import SCHEMA_DIR, schema_name_for
from ._storage import Storage
from ._stored_reads import describe_rows

__all__ = ["Room"]

#: Origin of the stored updates replayed into a freshly loaded document (not stored again).
_LOAD_ORIGIN = "mesh-tools-load"
#: Stored bytes past which a describe that loads the document has the worker process describe the rows
#: while they are replayed (about the size of the 2,000 elements ``LiveDocument`` describes itself).
_DESCRIBE_WHILE_LOADING_BYTES = 128 * 2**10


class Room:
    """The documents of one room."""

    def __init__(
        self,
        name: str,
        storage: Storage,
        bus: DocumentBus | None = None,
        limits: DocumentLimits | None = None,
        *,
        keep_loaded: float = 0.0,
        on_empty: Callable[[Room], None] | None = None,
        trimmer: MemoryTrimmer | None = None,
        reads: ByteBudget | None = None,
    ) -> None:
        self.name = name
        self.storage = storage
        self.bus = bus
        #: Depth and size limits of every document of the room.
        self.limits = limits or DocumentLimits()
        self.keep_loaded = keep_loaded
        self.participants = 0
        self._on_empty = on_empty
        #: Told of every unload, to hand the freed memory back to the operating system.
        self._trimmer = trimmer
        #: Admits big updates to the worker process (see LiveDocument); the server shares one.
        self._reads = reads
        #: Unloads due for documents nobody holds, while they are kept loaded.
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._documents: dict[str, LiveDocument] = {}
        self._loading: dict[str, asyncio.Task[LiveDocument]] = {}
        self._waiting: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Room {self.name!r} documents={len(self._documents)} participants={self.participants}>"

    @property
    def documents(self) -> dict[str, LiveDocument]:
        """The documents loaded right now, by path."""
        return dict(self._documents)

    @property
    def idle(self) -> bool:
        return not (self.participants or self._documents or self._loading)

    async def acquire(self, path: str, *, describing: bool = False) -> LiveDocument:
        """The loaded document at ``path`` with one more hold; pair with ``release()``.

        ``describing``: the caller wants its ``describe()``; if this call loads a big document, the worker
        process describes the stored rows while they are replayed here, not after.
        DocumentNotFoundError if there is none.
        """
        while True:
            live = self._documents.get(path)
            if live is None:
                live = await self._wait_for_load(path, describing)
            # Unloaded while this request waited for the load to finish: load it again.
            if not live.closed:
                live.holds += 1
                self._keep(path)
                return live

    async def create(self, path: str, *, data: dict[str, Any] | None, schema: MeshSchema | None) -> None:
        """Create a document (DocumentExistsError if it exists) from optional document JSON.

        Without ``schema``, the room's schema for the path's extension applies.
        """
        if schema is None:
            schema = await self.schema_for(path)
        # Checking and writing 100k elements takes seconds: a worker thread does it while others are served.
        update = await asyncio.to_thread(_build, schema, self.limits, data)
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
        for path in list(self._expiries):
            self._keep(path)
        for live in list(self._documents.values()):
            self._unload(live)

    async def _wait_for_load(self, path: str, describing: bool) -> LiveDocument:
        # One load task per path, shared by every request that needs it and not cancelled with any.
        task = self._loading.get(path)
        if task is None:
            task = self._loading[path] = asyncio.create_task(
                self._load(path, describing), name=f"load {path}"
            )
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
        self._unload_if_unheld(path)

    def _unload_if_unheld(self, path: str) -> None:
        # Every request that waited for this load gave up: nobody will ever release the document.
        live = self._documents.get(path)
        if live is not None and live.holds == 0 and not self._waiting.get(path):
            self._unload(live)

    async def _load(self, path: str, describing: bool) -> LiveDocument:
        # Where the bus stands before the load: what other nodes commit after it arrives from there.
        position = await self.bus.position(self.name, path) if self.bus is not None else None
        stored = await self.storage.load_document(self.name, path)
        if stored is None:
            raise DocumentNotFoundError(
                f"room {self.name!r} has no document {path!r}", hint="create it, or open it with create=true"
            )
        # A big document is described in the worker process anyway (LiveDocument.describe): from these
        # rows, on the other core while they are replayed here, the describe that loads it waits for one
        # replay, not two in a row.
        description = None
        if describing and sum(map(len, stored.updates)) > _DESCRIBE_WHILE_LOADING_BYTES:
            description = asyncio.ensure_future(describe_rows(stored, path, self.limits))
        # A big document takes a while to replay: a worker thread does it while others are served.
        schema = MeshSchema.from_json(stored.schema)
        try:
            doc, suspect, state = await asyncio.to_thread(_replay, schema, self.limits, stored.updates)
        except BaseException:
            if description is not None:
                description.cancel()
            raise
        live = LiveDocument(
            room=self.name,
            path=path,
            doc=doc,
            epoch=stored.epoch,
            storage=self.storage,
            on_idle=self._idle,
            bus=self.bus,
            reads=self._reads,
        )
        live.prime_guard(state)
        if description is not None:
            live.described_as(description)
        # What this storage holds was checked and mended before it was stored (ADR 0019); a layout the
        # load's index walk finds off (a file written by other means, or a cluster whose nodes all died
        # before storing their repair of concurrent edits) is mended once, here.
        if suspect:
            await live.mend_on_worker()
        if self.bus is not None:
            await self.bus.follow(live, position)
        return live

    def _idle(self, live: LiveDocument) -> None:
        """The last hold on ``live`` went: unload it now, or once it stayed unused for ``keep_loaded``."""
        if self.keep_loaded <= 0:
            self._unload(live)
            return
        self._keep(live.path)
        loop = asyncio.get_running_loop()
        self._expiries[live.path] = loop.call_later(self.keep_loaded, self._expire, live)

    def _keep(self, path: str) -> None:
        expiry = self._expiries.pop(path, None)
        if expiry is not None:
            expiry.cancel()

    def _expire(self, live: LiveDocument) -> None:
        self._expiries.pop(live.path, None)
        if live.holds == 0:
            self._unload(live)
        if self.idle and self._on_empty is not None:
            self._on_empty(self)

    def _unload(self, live: LiveDocument) -> None:
        if self._documents.get(live.path) is live:
            del self._documents[live.path]
        if self.bus is not None:
            self.bus.unfollow(live)
        live.close()
        if self._trimmer is not None:
            self._trimmer.freed()


def _build(schema: MeshSchema, limits: DocumentLimits, data: dict[str, Any] | None) -> bytes:
    """The first state of a document created from optional document JSON."""
    doc = MeshDocument(schema=schema, limits=limits)
    try:
        if data is not None:
            doc.load_json(data)
        return doc.get_update()
    finally:
        doc.close()


def _replay(
    schema: MeshSchema, limits: DocumentLimits, updates: Sequence[bytes]
) -> tuple[MeshDocument, bool, bytes]:
    """The stored document, whether its layout needs a repair (``MeshDocument.load_stored``), and its
    whole state as one update (for ``LiveDocument.prime_guard``: encoded here, off the event loop)."""
    doc = MeshDocument(schema=schema, limits=limits)
    # Replayed in log order (out of order can leave structs pending) in one transaction: one index pass
    # for the whole log, where merging it first would cost seconds for a long log.
    suspect = doc.load_stored(updates, origin=_LOAD_ORIGIN)
    return doc, suspect, doc.get_update()
