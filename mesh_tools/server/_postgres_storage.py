"""PostgreSQL room storage, shared by every node of a cluster: the update log, snapshots and schemas.

The same contract as :class:`~mesh_tools.server.SQLiteStorage` (ADR 0002), on a database several
``mesh-tools serve`` processes share (ADR 0011). One writer task per process owns one connection and
runs each batch of queued operations in one transaction (group commit; appends go out as one pipelined
``executemany``), then resolves the operations' futures: ``flush`` returns after the commit.

Differences that sharing the database brings:

- Log rows of one document may be written by several processes, and a ``bigserial`` is allocated
  before its transaction commits, so a row with a smaller ``seq`` can become visible after a larger
  one. Compaction therefore deletes exactly the rows it folded (never "everything up to seq N"), and a
  load reads the snapshot and the remaining log in one statement, so it sees one consistent state.
  Compactions of one document by two processes are serialised by locking its row.
- Losing the connection is not fatal: the batch in flight fails with StorageUnavailableError, so do
  operations queued while the database is unreachable, and the writer reconnects with backoff. Any
  other database error is fail-stop, as with SQLite.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never
from tenacity.wait import wait_random_exponential

from ..errors import DocumentExistsError, MeshError, ServerError, StorageUnavailableError
from ._snapshots import compact_updates
from ._storage import StoredDocument
from ._worker_process import start_worker_process
from ._write_batches import Backlog, Batch, CompactionPolicy, DocKey, DocumentLogs, next_batch, settle

__all__ = ["PostgresStorage"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_Connection = psycopg.AsyncConnection[tuple[Any, ...]]
#: Errors of the connection itself (the server restarted, the network dropped): worth reconnecting.
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
#: Serialises table creation when several nodes start at once (CREATE ... IF NOT EXISTS can race).
_SCHEMA_LOCK = 0x6D657368
#: Seconds without operations after which the writer checks that the connection still works.
_PROBE_AFTER = 1.0

_SCHEMA_SQL = [
    "CREATE TABLE IF NOT EXISTS mesh_documents (room text NOT NULL, path text NOT NULL, schema text NOT NULL,"
    " epoch text NOT NULL, snapshot bytea NOT NULL, PRIMARY KEY (room, path))",
    "CREATE TABLE IF NOT EXISTS mesh_updates (seq bigserial PRIMARY KEY, room text NOT NULL,"
    " path text NOT NULL, data bytea NOT NULL)",
    "CREATE INDEX IF NOT EXISTS mesh_updates_by_document ON mesh_updates (room, path, seq)",
    "CREATE TABLE IF NOT EXISTS mesh_schemas (room text NOT NULL, name text NOT NULL, data text NOT NULL,"
    " PRIMARY KEY (room, name))",
]
_LOAD_SQL = (
    "SELECT d.schema, d.epoch, d.snapshot, ARRAY(SELECT u.data FROM mesh_updates u"
    " WHERE u.room = d.room AND u.path = d.path ORDER BY u.seq)"
    " FROM mesh_documents d WHERE d.room = %s AND d.path = %s"
)


@dataclass(slots=True)
class _Op(Generic[_T]):
    """One storage operation; an append carries its row instead of a function to run."""

    future: asyncio.Future[_T]
    run: Callable[[_Connection], Awaitable[_T]] | None = None
    append: tuple[str, str, bytes] | None = None


class PostgresStorage:
    """:class:`~mesh_tools.server.Storage` in PostgreSQL, at ``url`` (a libpq URL or DSN).

    The writer folds a document's log into its snapshot once it holds more than ``compact_rows`` rows,
    or more bytes than ``compact_ratio`` times the snapshot (and more than ``compact_bytes``), or has
    not been folded for ``compact_age`` seconds (:class:`CompactionPolicy`). ``max_batch``: most
    operations committed in one transaction.
    ``max_reconnect_delay``: longest wait between reconnection attempts, in seconds.
    ``max_backlog_bytes``: appended bytes not yet stored above which :meth:`drain` waits.
    """

    def __init__(
        self,
        url: str,
        *,
        compact_rows: int = 1000,
        compact_bytes: int = 64 << 10,
        compact_ratio: float = 0.5,
        compact_age: float = 30.0,
        max_batch: int = 1024,
        max_reconnect_delay: float = 2.0,
        max_backlog_bytes: int = 16 * 2**20,
    ) -> None:
        self.url = url
        self.max_batch = max_batch
        self.max_reconnect_delay = max_reconnect_delay
        self._backlog = Backlog(max_backlog_bytes)
        self._db: _Connection | None = None
        self._queue: asyncio.Queue[_Op[Any] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closing = False
        self._logs = DocumentLogs(CompactionPolicy(compact_rows, compact_bytes, compact_ratio, compact_age))

    def __repr__(self) -> str:
        return f"<PostgresStorage available={self.available}>"

    @property
    def available(self) -> bool:
        """True while the database is connected and no write has failed for good."""
        return self._db is not None and self._failure is None and not self._closing

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create the tables; StorageUnavailableError if the database cannot be reached."""
        if self._writer is not None:
            raise RuntimeError("the storage is already open")
        self._db = await self._connect()
        await asyncio.to_thread(start_worker_process)  # where big folds are computed
        self._writer = asyncio.create_task(self._write_loop(), name="postgres-writer")

    async def close(self) -> None:
        """Commit what is queued, fold every log this process wrote into its snapshot, disconnect."""
        if self._writer is None:
            return
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        self._queue.put_nowait(None)
        await self._writer
        self._writer = None
        db, self._db = self._db, None
        if db is None:
            return
        try:
            if self._failure is None:
                for key in self._logs.unfolded():
                    await self._compact(db, key)
        except _CONNECTION_ERRORS:
            logger.warning("the database went away while compacting on close; the logs stay as they are")
        finally:
            await db.close()

    async def _connect(self) -> _Connection:
        try:
            db = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            async with db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _SCHEMA_SQL:
                    await db.execute(statement)
        except _CONNECTION_ERRORS as exc:
            raise _unavailable(exc) from exc
        return db

    # -- the Storage interface --------------------------------------------------------------

    async def create_document(
        self, room: str, path: str, *, schema: dict[str, Any], epoch: str, update: bytes
    ) -> None:
        async def run(db: _Connection) -> None:
            cursor = await db.execute(
                "INSERT INTO mesh_documents (room, path, schema, epoch, snapshot) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (room, path, json.dumps(schema), epoch, update),
            )
            if await cursor.fetchone() is None:
                raise DocumentExistsError(f"{path!r} already exists", hint="open it, or pick another path")

        await self._submit(run)

    async def load_document(self, room: str, path: str) -> StoredDocument | None:
        async def run(db: _Connection) -> StoredDocument | None:
            row = await (await db.execute(_LOAD_SQL, (room, path))).fetchone()
            if row is None:
                return None
            schema, epoch, snapshot, log = row
            return StoredDocument(json.loads(schema), epoch, [snapshot, *log])

        return await self._submit(run)

    def append_update(self, room: str, path: str, update: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._enqueue(append=(room, path, update))
        if not future.done():
            self._backlog.added(len(update))
        return future

    async def drain(self) -> None:
        """Return once the appends waiting to be stored are within ``max_backlog_bytes``."""
        await self._backlog.wait()

    async def flush(self) -> None:
        async def run(db: _Connection) -> None:
            return None

        await self._submit(run)

    async def list_documents(self, room: str) -> list[str]:
        async def run(db: _Connection) -> list[str]:
            cursor = await db.execute(
                "SELECT path FROM mesh_documents WHERE room = %s ORDER BY path", (room,)
            )
            return [path for (path,) in await cursor.fetchall()]

        return await self._submit(run)

    async def put_schema(self, room: str, name: str, schema: dict[str, Any]) -> None:
        async def run(db: _Connection) -> None:
            await db.execute(
                "INSERT INTO mesh_schemas (room, name, data) VALUES (%s, %s, %s)"
                " ON CONFLICT (room, name) DO UPDATE SET data = excluded.data",
                (room, name, json.dumps(schema)),
            )

        await self._submit(run)

    async def get_schema(self, room: str, name: str) -> dict[str, Any] | None:
        async def run(db: _Connection) -> dict[str, Any] | None:
            cursor = await db.execute(
                "SELECT data FROM mesh_schemas WHERE room = %s AND name = %s", (room, name)
            )
            row = await cursor.fetchone()
            return None if row is None else dict(json.loads(row[0]))

        return await self._submit(run)

    async def list_schemas(self, room: str) -> list[str]:
        async def run(db: _Connection) -> list[str]:
            cursor = await db.execute("SELECT name FROM mesh_schemas WHERE room = %s ORDER BY name", (room,))
            return [name for (name,) in await cursor.fetchall()]

        return await self._submit(run)

    # -- the writer -------------------------------------------------------------------------

    async def _submit(self, run: Callable[[_Connection], Awaitable[_T]]) -> _T:
        return await self._enqueue(run=run)

    def _enqueue(
        self,
        *,
        run: Callable[[_Connection], Awaitable[_T]] | None = None,
        append: tuple[str, str, bytes] | None = None,
    ) -> asyncio.Future[_T]:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        if self._failure is not None:
            future.set_exception(self._failed())
        elif self._writer is None or self._closing:
            future.set_exception(ServerError("the storage is closed"))
        elif self._db is None:
            # Refuse at once rather than queue: a client waiting on a flush is better told now.
            future.set_exception(_unavailable(None))
        else:
            self._queue.put_nowait(_Op(future, run, append))
        return future

    def _failed(self) -> ServerError:
        error = ServerError(f"storage failed: {self._failure!r}", hint="the server needs attention")
        error.__cause__ = self._failure
        return error

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            try:
                batch, stopping = await asyncio.wait_for(
                    next_batch(self._queue, self.max_batch), _PROBE_AFTER
                )
            except TimeoutError:
                await self._probe()
                batch = []
            if batch:
                # Let the fan-out queued with these updates leave first: peers should not wait for
                # the database's round trips (in pipeline mode the batch holds the loop until sent).
                await asyncio.sleep(0)
                await self._write(batch)
                self._backlog.stored(sum(len(op.append[2]) for op in batch if op.append is not None))
            await self._compact_aged()

    async def _write(self, batch: list[_Op[Any]]) -> None:
        db = self._db
        if self._failure is not None or db is None:
            error = self._failed() if self._failure is not None else _unavailable(None)
            for op in batch:
                settle(op.future, False, error)
            return
        try:
            done = await self._run_batch(db, batch)
        except Exception as exc:
            error = self._handle_failure(db, exc)
            for op in batch:
                settle(op.future, False, error)
            return
        for op, (ok, value) in zip(batch, done.results, strict=True):
            settle(op.future, ok, value)
        # After the acknowledgements: folding a log is no reason to keep a flush waiting.
        await self._compact_each(db, done.due)

    async def _compact_aged(self) -> None:
        """Fold the logs that waited ``compact_age`` (checked at most once a second)."""
        db = self._db
        if db is not None and self._failure is None:
            await self._compact_each(db, self._logs.aged())

    async def _compact_each(self, db: _Connection, keys: list[DocKey]) -> None:
        try:
            for key in keys:
                await self._compact(db, key)
        except Exception as exc:
            self._handle_failure(db, exc)

    def _handle_failure(self, db: _Connection, exc: Exception) -> ServerError:
        """Reconnect after a lost connection; stop for good after any other database error."""
        if isinstance(exc, _CONNECTION_ERRORS):
            # Not committed, or committed without our hearing of it: the callers retry either way,
            # and replaying a CRDT update twice changes nothing.
            logger.warning("lost the database connection (%s); reconnecting", exc)
            self._lose_connection(db)
            return _unavailable(exc)
        logger.error("storage failed; refusing further writes", exc_info=exc)
        self._failure = exc
        return self._failed()

    async def _probe(self) -> None:
        """An idle writer checks its connection, so readiness turns false without waiting for a write."""
        db = self._db
        if db is None or self._failure is not None:
            return
        try:
            await db.execute("SELECT 1")
        except _CONNECTION_ERRORS as exc:
            self._handle_failure(db, exc)

    async def _run_batch(self, db: _Connection, batch: list[_Op[Any]]) -> Batch:
        done = Batch()
        rows: list[tuple[str, str, bytes]] = []
        # Pipeline mode: BEGIN, the inserts and COMMIT travel together instead of one round trip each.
        async with db.pipeline(), db.transaction():
            for op in batch:
                if op.append is not None:
                    rows.append(op.append)
                    done.results.append((True, None))
                    continue
                if rows:  # keep call order: earlier appends go in before this operation runs
                    await self._insert(db, rows, done)
                    rows = []
                assert op.run is not None
                try:
                    done.results.append((True, await op.run(db)))
                except MeshError as exc:  # refused before touching the database: only this one fails
                    done.results.append((False, exc))
            if rows:
                await self._insert(db, rows, done)
        return done

    async def _insert(self, db: _Connection, rows: list[tuple[str, str, bytes]], done: Batch) -> None:
        async with db.cursor() as cursor:
            await cursor.executemany("INSERT INTO mesh_updates (room, path, data) VALUES (%s, %s, %s)", rows)
        fresh: set[DocKey] = set()
        for room, path, data in rows:
            key = (room, path)
            if not self._logs.known(key):
                # Counts the rows just inserted, and those other nodes wrote.
                cursor = await db.execute(
                    "SELECT count(u.seq), coalesce(sum(length(u.data)), 0), max(length(d.snapshot))"
                    " FROM mesh_documents d LEFT JOIN mesh_updates u ON u.room = d.room AND u.path = d.path"
                    " WHERE d.room = %s AND d.path = %s",
                    key,
                )
                counted = await cursor.fetchone()
                assert counted is not None  # an aggregate always has a row
                self._logs.learn(key, int(counted[0]), int(counted[1]), int(counted[2] or 0))
                fresh.add(key)
            elif key not in fresh:
                self._logs.add(key, len(data))
            if key not in done.due and self._logs.due(key):
                done.due.append(key)

    async def _compact(self, db: _Connection, key: DocKey) -> None:
        """Fold a document's log into its snapshot, deleting exactly the rows folded."""
        async with db.transaction():
            cursor = await db.execute(
                "SELECT snapshot FROM mesh_documents WHERE room = %s AND path = %s FOR UPDATE", key
            )
            row = await cursor.fetchone()
            if row is None:
                raise ServerError(f"cannot compact {key[1]!r}: it has no document row")
            cursor = await db.execute(
                "SELECT seq, data FROM mesh_updates WHERE room = %s AND path = %s ORDER BY seq", key
            )
            log = await cursor.fetchall()
            merged = row[0]
            if log:
                # Another node may append meanwhile: its rows are not in ``log`` and stay in the table.
                merged = await asyncio.to_thread(compact_updates, row[0], *(data for _, data in log))
                await db.execute(
                    "UPDATE mesh_documents SET snapshot = %s WHERE room = %s AND path = %s", (merged, *key)
                )
                await db.execute("DELETE FROM mesh_updates WHERE seq = ANY(%s)", ([seq for seq, _ in log],))
        self._logs.folded(key, len(merged))

    # -- reconnection -----------------------------------------------------------------------

    def _lose_connection(self, db: _Connection) -> None:
        self._db = None
        self._logs.clear()  # other nodes wrote meanwhile; recount on the next append
        asyncio.get_running_loop().create_task(db.close())
        if self._reconnecting is None and not self._closing:
            self._reconnecting = asyncio.create_task(self._reconnect(), name="postgres-reconnect")

    async def _reconnect(self) -> None:
        try:
            retrying = AsyncRetrying(
                wait=wait_random_exponential(multiplier=0.05, max=self.max_reconnect_delay),
                retry=retry_if_exception_type(StorageUnavailableError),
                stop=stop_never,
                reraise=True,
            )
            self._db = await retrying(self._connect)
            logger.info("reconnected to the database")
        finally:
            self._reconnecting = None


def _unavailable(cause: BaseException | None) -> StorageUnavailableError:
    detail = f": {cause}" if cause is not None else ""
    return StorageUnavailableError(
        f"the database is unreachable{detail}".strip(),
        hint="nothing was stored; the server is reconnecting, so retry (or reopen the document) shortly",
    )
