"""SQLite room storage: an update log with group commit, compacted snapshots, and schemas.

One database file holds every room. WAL journal with ``synchronous=FULL``: a commit that returned is on
disk, power loss included. One writer thread owns the connection: it drains a queue of operations, runs
each batch in one transaction, and hands the outcomes to the event loop, which resolves the operations'
futures — many updates, one fsync. See docs/adr/0002-update-log-storage.md. Appends that come within
``commit_interval`` (10 ms) of the last commit wait to share the next one, so steady writes cost at most
one fsync per interval (:class:`CommitPacing`: on a virtual machine, fsyncs stall the other processes
now and then); a flush, a load or any other operation is committed at once.

The writer is a thread of its own, not a task that sends each batch to a worker thread: the thread takes
the next batch as soon as one is committed, while a task waited for two turns of the event loop between
batches, and a busy loop's turns are long. Each batch's appends are one statement, and a log is read in
one step: the writer thread needs the GIL back after every SQLite call, and while the event loop is busy
each handover may wait out the interpreter's switch interval, so per-row statements starved the writer
(docs/adr/0015-durable-writes-under-load.md). Appends waiting to be stored are counted in bytes;
:meth:`SQLiteStorage.drain` makes readers wait while they exceed ``max_backlog_bytes``.

Storage faults heal: a batch that fails (a full disk, an I/O error, a lock) fails its operations with
``storage_unavailable`` naming the cause, the connection is reopened, and the next batch tries again;
while writes fail, the writer probes once a second, ``available`` is False and ``problem`` says why,
until a write succeeds. A lock file beside the database keeps a second process from using it.

Compaction folds a document's log into its snapshot (``compact_updates``: overwritten content dropped)
once the log outgrows half the snapshot, or grew old (:class:`CompactionPolicy`). The writer thread reads
the log; the new snapshot is computed on a folding thread (a big one in the worker process) while the
writer goes on storing appends, and comes back through the writer's queue to be written (a fold costs
the document's size: done in line, it held up every append behind it). The writer writes the new
snapshot into the old one's pages and, for a big one, into an emptied WAL: database + WAL
stay within about 3 times the live state at every instant while the server runs, not only after it stops
(the bound and why: docs/adr/0015-durable-writes-under-load.md, decision 5).

Tables: ``snapshots`` (one row per document: schema, epoch, merged state, and ``upto``, the last log
``seq`` folded into it), ``updates`` (the log, ``seq`` ascending) and ``schemas``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    MeshError,
    ServerError,
    StorageUnavailableError,
)
from ._snapshots import compact_updates
from ._storage import StoredDocument
from ._worker_process import start_worker_process
from ._write_batches import (
    AGE_SCAN_INTERVAL,
    Backlog,
    Batch,
    CommitPacing,
    CompactionPolicy,
    DocumentLogs,
    settle,
    take_batch,
)

__all__ = ["SQLiteStorage"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_DocKey = tuple[str, str]

#: Incremental auto-vacuum (it only takes effect on a new database): pages freed by compaction can be
#: handed back to the file system instead of keeping the file at its largest size.
_CREATE_SQL = "PRAGMA auto_vacuum=INCREMENTAL"
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS snapshots (
    room TEXT NOT NULL, path TEXT NOT NULL, schema TEXT NOT NULL, epoch TEXT NOT NULL,
    data BLOB NOT NULL, upto INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, path TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_document ON updates (room, path, seq);
CREATE TABLE IF NOT EXISTS schemas (
    room TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (room, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, written INTEGER NOT NULL);
"""
#: WAL pages (4 KiB each) after which a commit checkpoints the WAL into the database.
_WAL_PAGES = 128
#: Snapshot bytes above which a fold truncates the WAL before it runs (an eighth of the WAL's size).
_BIG_FOLD = _WAL_PAGES * 4096 // 8
#: Seconds without a batch after which the writer counts as idle and gives space back after a fold: the
#: fsyncs of giving it back halved stored/s when they followed every fold under load.
_IDLE = 0.1
#: Seconds between write probes while storage is failing.
_PROBE_INTERVAL = 1.0
#: What each SQLite primary result code means for an operator; the driver's own text never leaves
#: the server (it can name files and SQL).
_CAUSES = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_IOERR": "the disk could not be read or written",
    "SQLITE_READONLY": "the database file is read-only",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_BUSY": "the database is locked by another process",
    "SQLITE_LOCKED": "the database is locked",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_NOTADB": "the file is not a SQLite database",
    "SQLITE_NOMEM": "the server is out of memory",
}


class _Queued:
    """What the writer's queue carries: operations from the event loop, folds from the folding thread."""

    __slots__ = ()


@dataclass(slots=True)
class _Op(_Queued, Generic[_T]):
    """One storage operation: runs on the writer thread inside the batch's transaction."""

    run: Callable[[sqlite3.Connection], _T] | None
    #: None for the writer's own probes, which nobody awaits.
    future: asyncio.Future[_T] | None
    #: The (room, path, update) row of an append, written with the batch's other appends.
    append: tuple[str, str, bytes] | None = None


@dataclass(slots=True)
class _Fold(_Queued):
    """A document's log read for folding, and once computed, the snapshot that replaces it."""

    key: _DocKey
    #: The last log row the current snapshot holds, and the last one this fold folds in.
    upto: int
    last: int
    snapshot: bytes
    log: list[bytes]
    #: The new snapshot; None while not computed, or if computing it failed.
    merged: bytes | None = None


class SQLiteStorage:
    """:class:`~mesh_tools.server._storage.Storage` in one SQLite file.

    The writer folds a document's log into its snapshot once it holds more than ``compact_rows`` rows,
    or more bytes than ``compact_ratio`` times the snapshot (and more than ``compact_bytes``), or has
    not been folded for ``compact_age`` seconds. ``max_batch``: most operations committed in one
    transaction.
    ``max_backlog_bytes``: appended bytes not yet stored above which :meth:`drain` waits.
    ``commit_interval``: seconds appends that come sooner after a commit wait to share the next one
    (:class:`CommitPacing`); any other operation, :meth:`flush` included, is committed at once.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        compact_rows: int = 1000,
        compact_bytes: int = 64 << 10,
        compact_ratio: float = 0.5,
        compact_age: float = 30.0,
        max_batch: int = 1024,
        max_backlog_bytes: int = 16 * 2**20,
        commit_interval: float = 0.01,
    ) -> None:
        self.path = Path(path)
        self.max_batch = max_batch
        self._backlog = Backlog(max_backlog_bytes)
        self._db: sqlite3.Connection | None = None
        #: Operations from the event loop, computed folds from the folding thread; None stops the writer.
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._folder: ThreadPoolExecutor | None = None
        #: Documents whose fold is being computed (written by the writer thread only).
        self._folding: set[_DocKey] = set()
        #: ``time.monotonic()`` when the writer last committed a batch of operations.
        self._stored_at = 0.0
        self._pacing = CommitPacing(commit_interval)
        self._writer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Resolved on the event loop once the writer thread has taken its last batch.
        self._stopped: asyncio.Future[None] | None = None
        self._lock: int | None = None
        self._problem: StorageUnavailableError | None = None
        self._closing = False
        self._logs = DocumentLogs(CompactionPolicy(compact_rows, compact_bytes, compact_ratio, compact_age))

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._writer is not None and self._problem is None and not self._closing

    @property
    def problem(self) -> StorageUnavailableError | None:
        """Why writes fail right now (from the last failed write until one succeeds), else None."""
        return self._problem

    async def open(self) -> None:
        """Take the database's lock file and open it; StorageUnavailableError says why it cannot."""
        if self._writer is not None:
            raise RuntimeError("the storage is already open")
        self._lock = await asyncio.to_thread(self._take_lock)
        try:
            self._db = await asyncio.to_thread(self._connect)
        except sqlite3.Error as exc:
            self._release_lock()
            raise self._open_error(exc) from None
        await asyncio.to_thread(start_worker_process)  # where big folds are computed
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        self._folder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-folder {self.path.name}")
        # A daemon: a process that exits without closing the storage must not hang on the writer (what
        # it acknowledged is committed; what it did not, a crash would lose as well).
        self._writer = threading.Thread(
            target=self._write, name=f"sqlite-writer {self.path.name}", daemon=True
        )
        self._writer.start()

    def _take_lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StorageUnavailableError(
                f"another process (pid {holder}) is serving {self.path}",
                hint="stop that server first, or give this one another --data-dir",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        return fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor drops the flock
            self._lock = None

    def _open_error(self, exc: sqlite3.Error) -> StorageUnavailableError:
        name = exc.sqlite_errorname if isinstance(exc, sqlite3.DatabaseError) else ""
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            recovered = self.path.with_name(self.path.name + ".recovered")
            return StorageUnavailableError(
                f"the database {self.path} is corrupt ({_cause(exc)})",
                hint=f'stop the server and run: sqlite3 {self.path} ".recover" | sqlite3 {recovered} '
                f"&& mv {self.path} {self.path}.corrupt && mv {recovered} {self.path}",
            )
        return StorageUnavailableError(
            f"cannot open the database {self.path}: {_cause(exc)}",
            hint="check the --data-dir path, its permissions and free space",
        )

    async def close(self) -> None:
        """Commit what is queued, fold every log written by this process into its snapshot, close."""
        if self._writer is None:
            return
        self._closing = True
        self._queue.put(None)
        assert self._stopped is not None
        try:
            await self._stopped
        finally:
            self._writer = None
            if self._folder is not None:
                # A fold still being computed is dropped: its log stays counted, and is folded below.
                await asyncio.to_thread(self._folder.shutdown, wait=True, cancel_futures=True)
                self._folder = None
        db, self._db = self._db, None
        if db is None:  # dropped after a failure: the log rows stay and the next server replays them
            self._release_lock()
            return
        try:
            await asyncio.to_thread(self._compact_all, db, self._logs.unfolded())
        except sqlite3.Error as exc:
            # The log rows stay; they are replayed (and compacted) by the next server.
            logger.error("compacting on close failed: %s", _cause(exc))
        finally:
            await asyncio.to_thread(db.close)
            self._release_lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: the writer issues BEGIN/COMMIT itself, one transaction per batch.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute(_CREATE_SQL)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # The WAL is checkpointed every _WAL_PAGES pages and cut back to that size when it restarts:
        # by default it grew to 4 MiB and stayed that size, many times a small database's live state.
        db.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={_WAL_PAGES * 4096}")
        db.executescript(_SCHEMA_SQL)
        return db

    # -- the Storage interface --------------------------------------------------------------

    async def create_document(
        self, room: str, path: str, *, schema: dict[str, Any], epoch: str, update: bytes
    ) -> None:
        def run(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM snapshots WHERE room=? AND path=?", (room, path)).fetchone():
                raise DocumentExistsError(f"{path!r} already exists", hint="open it, or pick another path")
            db.execute(
                "INSERT INTO snapshots (room, path, schema, epoch, data, upto) VALUES (?, ?, ?, ?, ?, 0)",
                (room, path, json.dumps(schema), epoch, update),
            )

        await self._submit(run)

    async def load_document(self, room: str, path: str) -> StoredDocument | None:
        def run(db: sqlite3.Connection) -> StoredDocument | None:
            row = db.execute(
                "SELECT schema, epoch, data, upto FROM snapshots WHERE room=? AND path=?", (room, path)
            ).fetchone()
            if row is None:
                return None
            schema, epoch, snapshot, upto = row
            log, _ = _read_log(db, (room, path), upto)
            return StoredDocument(json.loads(schema), epoch, [snapshot, *log])

        return await self._submit(run)

    def append_update(self, room: str, path: str, update: bytes) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._enqueue(None, append=(room, path, update))
        if not future.done():
            self._backlog.added(len(update))
        return future

    async def flush(self) -> None:
        await self._submit(lambda db: None)

    @property
    def backlog_bytes(self) -> int:
        """Bytes appended and not yet stored."""
        return self._backlog.size

    async def drain(self) -> None:
        """Return once the appends waiting to be stored are within ``max_backlog_bytes``."""
        await self._backlog.wait()

    async def list_documents(self, room: str) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT path FROM snapshots WHERE room=? ORDER BY path", (room,))
            return [path for (path,) in rows]

        return await self._submit(run)

    async def put_schema(self, room: str, name: str, schema: dict[str, Any]) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO schemas (room, name, data) VALUES (?, ?, ?) "
                "ON CONFLICT (room, name) DO UPDATE SET data=excluded.data",
                (room, name, json.dumps(schema)),
            )

        await self._submit(run)

    async def get_schema(self, room: str, name: str) -> dict[str, Any] | None:
        def run(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT data FROM schemas WHERE room=? AND name=?", (room, name)).fetchone()
            return None if row is None else dict(json.loads(row[0]))

        return await self._submit(run)

    async def list_schemas(self, room: str) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            return [
                name for (name,) in db.execute("SELECT name FROM schemas WHERE room=? ORDER BY name", (room,))
            ]

        return await self._submit(run)

    # -- the writer -------------------------------------------------------------------------

    async def _submit(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._enqueue(run)

    def _enqueue(
        self, run: Callable[[sqlite3.Connection], _T] | None, *, append: tuple[str, str, bytes] | None = None
    ) -> asyncio.Future[_T]:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        if self._writer is None or self._closing:
            future.set_exception(ServerError("the storage is closed"))
        else:
            self._queue.put(_Op(run, future, append))
        return future

    def _write(self) -> None:
        """The writer thread: batches until the queue yields None, then tells the event loop."""
        try:
            self._write_batches()
        except BaseException as exc:  # a bug, not a storage fault: close() raises it
            self._post(_fail_future, self._stopped, exc)
            raise
        self._post(_resolve_future, self._stopped)

    def _write_batches(self) -> None:
        stopping = False
        while not stopping:
            # While writes fail, wake up to probe even when nobody writes, so health recovers; while a
            # log is not folded, wake up to fold it once it is old.
            if self._problem is not None:
                taken, stopping = take_batch(self._queue, self.max_batch, timeout=_PROBE_INTERVAL)
                if not taken and not stopping:
                    taken = [_Op(_probe, None)]
            else:
                timeout = AGE_SCAN_INTERVAL if self._logs.waiting else None
                taken, stopping = take_batch(self._queue, self.max_batch, timeout=timeout)
                if taken and not stopping:
                    stopping = self._wait_for_company(taken)
            batch = [op for op in taken if isinstance(op, _Op)]
            folds = [op for op in taken if isinstance(op, _Fold)]
            # A fold that is not written (its batch failed) is computed again from the log, which stays.
            self._folding.difference_update(fold.key for fold in folds)
            due: list[_DocKey] = []
            if batch:
                self._pacing.committing()
                try:
                    done = self._run_batch(batch)
                except sqlite3.Error as exc:  # the transaction failed: nothing in it is stored
                    error = self._failed(exc)
                    self._post(self._finish, batch, [(False, error) for _ in batch])
                    continue
                self._post(self._finish, batch, done.results)
                self._stored_at = time.monotonic()
                due = done.due
            try:
                if folds:
                    self._write_folds(folds)
                    # A fold reads at most ``compact_rows`` rows (merging grows faster than the log):
                    # a log that grew meanwhile is folded again at once.
                    due += [fold.key for fold in folds if self._logs.due(fold.key)]
                if self._problem is None:
                    due += [key for key in self._logs.aged() if key not in due]
                for key in due:
                    if key not in self._folding and not stopping:  # close() folds what is left
                        self._start_fold(key)
            except sqlite3.Error as exc:  # the log stays as it was; a later append retries
                self._failed(exc)

    def _start_fold(self, key: _DocKey) -> None:
        """Read the document's log and have the folding thread compute its new snapshot."""
        try:
            fold = self._read_fold(self._connection(), key)
        except MeshError:
            logger.exception("compaction skipped a document")
            return
        if fold is not None:
            assert self._folder is not None
            self._folding.add(key)
            self._folder.submit(self._compute_fold, fold)

    def _compute_fold(self, fold: _Fold) -> None:
        """On the folding thread: the new snapshot, handed to the writer to write."""
        try:
            fold.merged = compact_updates(fold.snapshot, *fold.log)
        except Exception:  # the log stays as it is; the next append or age scan tries again
            logger.exception("compacting %s/%s failed", *fold.key)
        self._queue.put(fold)

    def _write_folds(self, folds: list[_Fold]) -> None:
        """Write computed folds; an idle writer (nothing stored for ``_IDLE`` seconds, nothing queued)
        then gives free space back."""
        db = self._connection()
        for fold in folds:
            if fold.merged is None:
                continue
            try:
                self._write_fold(db, fold)
            except MeshError:  # the snapshot changed meanwhile: the log stays, to be folded again
                logger.exception("compaction skipped a document")
        if time.monotonic() - self._stored_at >= _IDLE and self._queue.empty():
            _give_back(db)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the event loop (from the writer thread), in the order posted."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            logger.debug("the event loop closed before the storage did")

    def _wait_for_company(self, taken: list[_Queued]) -> bool:
        """Hold a batch of appends alone until ``commit_interval`` after the last commit, taking what
        comes meanwhile; anything but an append (somebody waits on it) ends the wait. True if the
        storage is closing."""
        delay = self._pacing.delay()
        if delay == 0 or not all(_is_append(item) for item in taken):
            return False
        deadline = time.monotonic() + delay
        while len(taken) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if item is None:
                return True
            taken.append(item)
            if not _is_append(item):
                return False
        return False

    def _finish(self, batch: list[_Op[Any]], results: list[tuple[bool, Any]]) -> None:
        """On the event loop: resolve the batch's futures and take its appends off the backlog (stored
        or failed)."""
        for op, (ok, value) in zip(batch, results, strict=True):
            if op.future is not None:
                settle(op.future, ok, value)
        self._backlog.stored(sum(len(op.append[2]) for op in batch if op.append is not None))

    def _failed(self, exc: sqlite3.Error) -> StorageUnavailableError:
        """Record a failed write, drop the connection (the next batch reopens it) and say why."""
        if self._problem is None:
            logger.error("storage failed (%s); retrying until it works again", _cause(exc))
        else:
            logger.debug("storage still failing: %s", exc)
        self._problem = StorageUnavailableError(
            f"storage failed: {_cause(exc)}",
            hint="the server retries by itself; repeat the request once the cause is fixed",
        )
        db, self._db = self._db, None
        if db is not None:
            db.close()
        return self._problem

    def _connection(self) -> sqlite3.Connection:
        """The open connection, reopened after a failure (on the writer thread)."""
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _run_batch(self, batch: list[_Op[Any]]) -> Batch:
        """Run on the writer thread: every operation of the batch in one transaction."""
        db = self._connection()
        changes = db.total_changes
        done = Batch()
        appended: list[tuple[str, str, bytes]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            rows: list[tuple[str, str, bytes]] = []
            for op in batch:
                if op.append is not None:
                    rows.append(op.append)
                    done.results.append((True, None))
                    continue
                # The appends queued before this operation go first: it may read them.
                _insert_updates(db, rows)
                appended += rows
                rows = []
                assert op.run is not None
                # A savepoint per operation, so a refused one leaves the rest of the batch intact;
                # any other error (sqlite3.Error) fails the whole batch.
                db.execute("SAVEPOINT op")
                try:
                    value = op.run(db)
                except MeshError as exc:  # refused (say, the document exists): only this operation fails
                    db.execute("ROLLBACK TO op")
                    db.execute("RELEASE op")
                    done.results.append((False, exc))
                    continue
                db.execute("RELEASE op")
                done.results.append((True, value))
            _insert_updates(db, rows)
            self._count(db, appended + rows, done)
            db.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back when a COMMIT fails for want of space.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if self._problem is not None and db.total_changes > changes:
            logger.warning("storage works again: writes succeed")
            self._problem = None
        return done

    def _count(self, db: sqlite3.Connection, appended: list[tuple[str, str, bytes]], done: Batch) -> None:
        learnt: set[_DocKey] = set()
        for room, path, update in appended:
            key = (room, path)
            if not self._logs.known(key):
                learnt.add(key)
                # Includes the rows just inserted.
                rows, total, snapshot = db.execute(
                    "SELECT count(*), coalesce(sum(length(u.data)), 0), length(s.data) FROM snapshots s "
                    "LEFT JOIN updates u ON u.room=s.room AND u.path=s.path AND u.seq > s.upto "
                    "WHERE s.room=? AND s.path=?",
                    key,
                ).fetchone()
                self._logs.learn(key, rows, total, snapshot or 0)
            elif key not in learnt:
                self._logs.add(key, len(update))
            if key not in done.due and self._logs.due(key):
                done.due.append(key)

    def _compact_all(self, db: sqlite3.Connection, keys: list[_DocKey]) -> None:
        """Fold the logs of ``keys`` here and now (at close, once the writer has stopped), then give free
        space back to the file system."""
        for key in keys:
            while (fold := self._read_fold(db, key)) is not None:
                fold.merged = compact_updates(fold.snapshot, *fold.log)
                self._write_fold(db, fold)
        _give_back(db)

    def _read_fold(self, db: sqlite3.Connection, key: _DocKey) -> _Fold | None:
        """The document's snapshot and the start of its log (``compact_rows`` rows), to fold; None if
        the log is empty. Only the writer writes, and it reads both, so they are consistent without a
        transaction."""
        row = db.execute("SELECT data, upto FROM snapshots WHERE room=? AND path=?", key).fetchone()
        if row is None:
            raise DocumentNotFoundError(f"cannot compact {key[1]!r}: it has no snapshot row")
        snapshot, upto = row
        log, last = _read_log(db, key, upto, limit=self._logs.policy.rows)
        if not log:
            self._logs.folded(key, len(snapshot))
            return None
        return _Fold(key, upto, last, snapshot, log)

    def _write_fold(self, db: sqlite3.Connection, fold: _Fold) -> None:
        """Replace the snapshot by the fold's and delete the log rows it holds. The new snapshot's pages
        go to the WAL: on top of a WAL at its checkpoint size, a big snapshot's pages took the files past
        the bound of docs/adr/0015, so a fold of more than ``_BIG_FOLD`` bytes truncates the WAL first
        (one more fsync, paid only where the fold itself is big)."""
        assert fold.merged is not None
        key = fold.key
        if self._logs.snapshot_size(key) > _BIG_FOLD:
            _truncate_wal(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            # Emptied first, so the new snapshot is written into the old one's pages: SQLite builds a
            # row's new value before freeing its old one, and the file held two snapshots.
            emptied = db.execute(
                "UPDATE snapshots SET data=x'' WHERE room=? AND path=? AND upto=?", (*key, fold.upto)
            )
            if emptied.rowcount != 1:  # only the writer folds, one fold per document at a time
                raise DocumentNotFoundError(f"cannot compact {key[1]!r}: its snapshot changed meanwhile")
            db.execute(
                "UPDATE snapshots SET data=?, upto=? WHERE room=? AND path=?", (fold.merged, fold.last, *key)
            )
            db.execute("DELETE FROM updates WHERE room=? AND path=? AND seq<=?", (*key, fold.last))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._logs.folded(key, len(fold.merged), len(fold.log), sum(map(len, fold.log)))


#: Appends go in as two parameters, whatever their number: the rows' keys and places as JSON, and their
#: updates end to end in one blob. One prepared statement and one step per batch: a multi-row VALUES
#: statement is prepared anew for every batch size (one more GIL handover each, and a statement cache
#: of every size), and ``executemany`` steps (and hands the GIL over) once per row.
_INSERT_SQL = """
INSERT INTO updates (room, path, data)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       substr(?2, json_extract(value, '$[2]'), json_extract(value, '$[3]'))
FROM json_each(?1) ORDER BY key
"""
#: The log after a snapshot as one row: SQLite returns a row per step, and each step hands the GIL over.
#: Rows of ``_ROW_ALONE_BYTES`` or more come as null, and are read alone (``_ROW_SQL``).
_LOG_SQL = (
    "SELECT json_group_array(json_array(seq, CASE WHEN length(data) < ?4 THEN hex(data) END)) FROM "
    "(SELECT seq, data FROM updates WHERE room=?1 AND path=?2 AND seq>?3 ORDER BY seq LIMIT ?5)"
)
_ROW_SQL = "SELECT data FROM updates WHERE room=? AND path=? AND seq=?"
#: A row this big is read as a blob, not as hex in JSON: for an 8 MiB row, decoding the JSON and the hex
#: held the GIL 25-40 ms in two calls (every room stalled), reading the blob ~3 ms.
_ROW_ALONE_BYTES = 256 * 2**10


def _is_append(item: _Queued) -> bool:
    return isinstance(item, _Op) and item.append is not None


def _insert_updates(db: sqlite3.Connection, rows: list[tuple[str, str, bytes]]) -> None:
    """Append log rows, in order, in one statement (one GIL handover: see ``_INSERT_SQL``)."""
    if not rows:
        return
    places: list[tuple[str, str, int, int]] = []
    start = 1  # substr counts from 1
    for room, path, update in rows:
        places.append((room, path, start, len(update)))
        start += len(update)
    db.execute(_INSERT_SQL, (json.dumps(places), b"".join(update for _, _, update in rows)))


def _read_log(db: sqlite3.Connection, key: _DocKey, upto: int, *, limit: int = -1) -> tuple[list[bytes], int]:
    """The document's log rows after ``upto`` in order (the first ``limit``, if not -1), and the last
    one's ``seq`` (``upto`` if none): read in one step (``_LOG_SQL``), not one per row, but for big rows."""
    (text,) = db.execute(_LOG_SQL, (*key, upto, _ROW_ALONE_BYTES, limit)).fetchone()
    log: list[tuple[int, str | None]] = sorted(json.loads(text))
    rows = [
        bytes.fromhex(data) if data is not None else db.execute(_ROW_SQL, (*key, seq)).fetchone()[0]
        for seq, data in log
    ]
    return rows, log[-1][0] if log else upto


def _give_back(db: sqlite3.Connection) -> None:
    """Hand free pages and the WAL back to the file system: fsyncs nobody waits on when the writer is
    idle; under load the next appends reuse the pages instead."""
    db.execute("PRAGMA incremental_vacuum")
    _truncate_wal(db)


def _truncate_wal(db: sqlite3.Connection) -> None:
    """Copy the WAL into the database and cut it to nothing (this process is the database's only user,
    so no reader can hold the checkpoint back)."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _probe(db: sqlite3.Connection) -> None:
    """A one-row write: succeeds only when the database can take writes again."""
    db.execute("INSERT OR REPLACE INTO probe (id, written) VALUES (1, strftime('%s'))")


def _resolve_future(future: asyncio.Future[None]) -> None:
    future.set_result(None)


def _fail_future(future: asyncio.Future[None], exc: BaseException) -> None:
    future.set_exception(exc)


def _cause(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, cause in _CAUSES.items():
        if name.startswith(prefix):
            return cause
    return "the database refused the operation"
