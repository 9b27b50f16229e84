"""Redis as the bus between room server nodes: one stream per document, pub/sub for awareness.

Keys (``prefix`` defaults to ``mesh``; rooms and paths cannot contain ``:``):

- ``{prefix}:doc:{room}:{path}``: a stream of committed updates, entries ``{n: node id, u: update}``.
  Ordered and replayable from any id. Entries are already durable in storage when added (ADR 0011), so
  the stream is only a window for nodes between a ``position`` and their next read: each add trims
  entries older than ``retention`` seconds (``MINID``, relative to the stream's own ids, so node clocks
  do not matter) and the key expires after a quiet ``retention``.
- ``{prefix}:awareness:{room}:{path}``: a pub/sub channel; a message is the sender's node id (its
  length in one byte, then the id) and the awareness payload.
- ``{prefix}:wake:{node}``: a stream only this node reads, written when it starts following a
  document so that its blocking read picks up the new stream at once.

Three tasks per node: the publisher (one pipelined round trip per batch of queued entries, retried in
order after a reconnection), the reader (one blocking ``XREAD`` over every followed stream) and the
awareness listener. When the reader loses Redis it backs off, reconnects, reloads each followed
document from storage and follows again from the stream's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from pycrdt import merge_updates
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import ServerError

if TYPE_CHECKING:
    from ._live_document import LiveDocument
    from ._storage import Storage

__all__ = ["RedisBus"]

logger = logging.getLogger(__name__)

_REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_NODE = b"n"
_UPDATE = b"u"
#: Longer than the longest blocking read, or redis-py takes a quiet stream for a dead connection.
_SOCKET_TIMEOUT = 10.0
_READ_BLOCK_MS = 2000
_READ_COUNT = 1000
_PUBLISH_BATCH = 512


@dataclass(slots=True)
class _Followed:
    document: LiveDocument
    #: The last stream id delivered; None until the document is caught up from storage.
    position: str | None


@dataclass(slots=True)
class _Entry:
    stream: str | None
    channel: str | None
    payload: bytes


class RedisBus:
    """:class:`~mesh_tools.server.DocumentBus` on Redis at ``url`` (``redis://host:port/db``).

    ``retention``: seconds a stream entry stays readable. ``max_reconnect_delay``: longest wait between
    reconnection attempts, in seconds. ``node_id`` names this node in entries (random by default).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mesh",
        retention: float = 60.0,
        max_reconnect_delay: float = 2.0,
        node_id: str | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.retention = retention
        self.max_reconnect_delay = max_reconnect_delay
        self.node_id = node_id or secrets.token_hex(8)
        if not 0 < len(self.node_id.encode()) < 256:
            raise ValueError("a node id is 1 to 255 bytes long")
        self._node = self.node_id.encode()
        # Awareness messages start with the sender's node id, length first.
        self._tag = bytes([len(self._node)]) + self._node
        self._redis: aioredis.Redis | None = None
        self._storage: Storage | None = None
        self._followed: dict[str, _Followed] = {}
        self._outbox: asyncio.Queue[_Entry] = asyncio.Queue()
        self._last_ids: dict[str, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._pubsub: Any = None
        self._subscribed: set[str] = set()
        self._unsubscribe_due = False

    def __repr__(self) -> str:
        return f"<RedisBus node={self.node_id} followed={len(self._followed)} available={self.available}>"

    @property
    def available(self) -> bool:
        return self._connected

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self, storage: Storage) -> None:
        if self._redis is not None:
            raise RuntimeError("the bus is already open")
        self._storage = storage
        self._redis = aioredis.Redis.from_url(
            self.url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=2.0, health_check_interval=10
        )
        try:
            await self._redis.ping()
        except _REDIS_ERRORS as exc:
            await self._redis.aclose()
            self._redis = None
            raise ServerError(f"cannot reach Redis at {self.url}: {exc}", hint="check --bus") from exc
        self._connected = True
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="redis-bus publisher"),
            asyncio.create_task(self._read_loop(), name="redis-bus reader"),
            asyncio.create_task(self._awareness_loop(), name="redis-bus awareness"),
        ]

    async def close(self) -> None:
        redis, self._redis = self._redis, None
        if redis is None:
            return
        if self._connected:
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(2):
                    await self._outbox.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._connected = False
        await redis.aclose()

    # -- the DocumentBus interface ----------------------------------------------------------

    async def position(self, room: str, path: str) -> str | None:
        if not self._connected:
            return None
        try:
            return await self._stream_end(self._stream(room, path))
        except _REDIS_ERRORS:
            return None

    async def follow(self, document: LiveDocument, position: str | None) -> None:
        key = self._stream(document.room, document.path)
        self._followed[key] = _Followed(document, position)
        # Wakes this node's blocking read, so the new stream is read from now on, not in seconds.
        self._outbox.put_nowait(_Entry(self._wake_stream(), None, b""))
        # Subscribed before the document is handed out, so no participant's awareness is missed.
        with contextlib.suppress(*_REDIS_ERRORS):
            await self._resubscribe()

    def unfollow(self, document: LiveDocument) -> None:
        key = self._stream(document.room, document.path)
        followed = self._followed.get(key)
        if followed is not None and followed.document is document:
            del self._followed[key]
            self._last_ids.pop(key, None)
            self._unsubscribe_due = True  # the awareness loop does it: this is not a coroutine

    def publish_update(self, room: str, path: str, update: bytes) -> None:
        self._outbox.put_nowait(_Entry(self._stream(room, path), None, update))

    def publish_awareness(self, room: str, path: str, message: bytes) -> None:
        if self._connected:  # awareness is ephemeral: nothing to catch up on later
            self._outbox.put_nowait(_Entry(None, self._channel(room, path), self._tag + message))

    # -- names ------------------------------------------------------------------------------

    def _stream(self, room: str, path: str) -> str:
        return f"{self.prefix}:doc:{room}:{path}"

    def _channel(self, room: str, path: str) -> str:
        return f"{self.prefix}:awareness:{room}:{path}"

    def _wake_stream(self) -> str:
        return f"{self.prefix}:wake:{self.node_id}"

    def _require(self) -> aioredis.Redis:
        if self._redis is None:
            raise ServerError("the bus is closed")
        return self._redis

    async def _stream_end(self, key: str) -> str:
        last: Any = await self._require().xrevrange(key, count=1)
        return _text(last[0][0]) if last else "0-0"

    # -- publisher --------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < _PUBLISH_BATCH:
                batch.append(self._outbox.get_nowait())
            attempt = 0
            while True:
                try:
                    await self._publish(batch)
                    break
                except _REDIS_ERRORS as exc:
                    # Kept and resent in order: a duplicate entry is harmless (CRDT updates are
                    # idempotent), a missing one would leave other nodes behind until they reload.
                    attempt += 1
                    logger.warning("publishing to Redis failed (%s); retrying", exc)
                    await asyncio.sleep(_backoff(attempt, self.max_reconnect_delay))
                except Exception:
                    # Redis refused the commands themselves: resending would fail the same way.
                    logger.exception("Redis refused %d entries; other nodes see them on reload", len(batch))
                    break
            for _ in batch:
                self._outbox.task_done()

    async def _publish(self, batch: list[_Entry]) -> None:
        retention_ms = int(self.retention * 1000)
        async with self._require().pipeline(transaction=False) as pipe:
            adds: list[str] = []
            for entry in batch:
                if entry.channel is not None:
                    pipe.publish(entry.channel, entry.payload)
                elif entry.stream == self._wake_stream():
                    pipe.xadd(entry.stream, {_NODE: self._node}, maxlen=8, approximate=True)
                    adds.append("")
                else:
                    assert entry.stream is not None
                    last = self._last_ids.get(entry.stream)
                    # Trim by the stream's own clock: the ids are Redis's milliseconds.
                    minid = f"{max(_millis(last) - retention_ms, 0)}-0" if last is not None else None
                    pipe.xadd(entry.stream, {_NODE: self._node, _UPDATE: entry.payload}, minid=minid)
                    pipe.pexpire(entry.stream, 2 * retention_ms)
                    adds.append(entry.stream)
            results: list[Any] = await pipe.execute()
        added = iter(result for result in results if isinstance(result, bytes))
        for stream in adds:
            entry_id = next(added)
            if stream:
                self._last_ids[stream] = entry_id

    # -- reader -----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        wake = "$"
        attempt = 0
        while True:
            try:
                if attempt:
                    wake = await self._stream_end(self._wake_stream())
                    self._connected = True
                    logger.info("reconnected to Redis")
                await self._catch_up()
                attempt = 0
                wake = await self._read_once(wake)
            except Exception as exc:
                # Redis went away, or storage did during a catch-up: whatever was not read is
                # reloaded from storage once both answer again.
                if isinstance(exc, _REDIS_ERRORS):
                    if self._connected:
                        logger.warning("lost Redis (%s); reconnecting", exc)
                    self._connected = False
                    for followed in self._followed.values():
                        followed.position = None
                else:
                    logger.warning("catching up from storage failed (%s); retrying", exc)
                attempt += 1
                await asyncio.sleep(_backoff(attempt, self.max_reconnect_delay))

    async def _read_once(self, wake: str) -> str:
        streams: dict[Any, Any] = {self._wake_stream(): wake}
        streams.update({key: f.position for key, f in self._followed.items() if f.position is not None})
        reply: Any = await self._require().xread(streams, count=_READ_COUNT, block=_READ_BLOCK_MS)
        for raw_key, entries in reply or []:
            key = _text(raw_key)
            if key == self._wake_stream():
                wake = _text(entries[-1][0])
                continue
            followed = self._followed.get(key)
            if followed is None or followed.position is None:
                continue
            if await self._trimmed_since(key, followed.position, entries[-1][0]):
                # This node fell behind the window: entries it never read are gone from the stream,
                # but storage has them all (they are committed before they are added).
                logger.warning("fell behind the stream of %s; reloading it from storage", key)
                followed.position = None
                continue
            followed.position = _text(entries[-1][0])
            updates = [fields[_UPDATE] for _, fields in entries if fields.get(_NODE) != self._node]
            if updates:
                # One application for the batch: a change and its repair land together.
                update = updates[0] if len(updates) == 1 else merge_updates(*updates)
                if not await followed.document.apply_remote(update):
                    # Storage holds every update a node committed, and only those: reload from it.
                    logger.error("reloading %s from storage after a refused bus entry", key)
                    followed.position = None
        return wake

    async def _trimmed_since(self, key: str, position: str, newest: bytes) -> bool:
        """Whether entries after ``position`` may have been trimmed before this node read them.

        An add trims what is older than itself by ``retention`` (every node of a cluster uses the same
        one), so nothing after ``position`` can be gone while the newest entry is within ``retention``
        of it: the common case costs nothing. Past that, the stream's own record of the highest id it
        deleted decides (Redis 7).
        """
        if _entry_id(newest) <= _entry_id(position) or _millis(newest) - _millis(position) <= int(
            self.retention * 1000
        ):
            return False
        info: Any = await self._require().xinfo_stream(key)
        deleted = info.get("max-deleted-entry-id")
        return deleted is None or _entry_id(deleted) > _entry_id(position)

    async def _catch_up(self) -> None:
        """Reload from storage each followed document that has no stream position, then set one.

        A document has none if it was opened while Redis was unreachable, or Redis went away since.
        """
        storage = self._storage
        assert storage is not None
        for key, followed in list(self._followed.items()):
            if followed.position is not None:
                continue
            document = followed.document
            position = await self._stream_end(key)
            stored = await storage.load_document(document.room, document.path)
            if self._followed.get(key) is not followed:
                continue  # unloaded meanwhile
            if stored is not None:
                await document.apply_remote(merge_updates(*stored.updates))
            followed.position = position

    # -- awareness --------------------------------------------------------------------------

    async def _awareness_loop(self) -> None:
        attempt = 0
        while True:
            pubsub: Any = self._require().pubsub()
            try:
                # A channel of its own, so the connection is subscribed even before any document is.
                await pubsub.subscribe(f"{self.prefix}:node:{self.node_id}")
                self._pubsub, self._subscribed = pubsub, set()
                self._unsubscribe_due = True
                attempt = 0
                while True:
                    if self._unsubscribe_due:
                        self._unsubscribe_due = False
                        await self._resubscribe()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if message is not None:
                        self._deliver_awareness(_text(message["channel"]), message["data"])
            except Exception as exc:
                if not isinstance(exc, _REDIS_ERRORS):
                    logger.exception("relaying awareness failed; resubscribing")
                attempt += 1
                await asyncio.sleep(_backoff(attempt, self.max_reconnect_delay))
            finally:
                self._pubsub = None
                await pubsub.aclose()

    async def _resubscribe(self) -> None:
        """Subscribe to the channels of the followed documents, and only to those."""
        pubsub = self._pubsub
        if pubsub is None:
            return  # the awareness loop subscribes everything once it is connected again
        wanted = {self._channel(f.document.room, f.document.path) for f in self._followed.values()}
        subscribed, self._subscribed = self._subscribed, wanted
        try:
            if wanted - subscribed:
                await pubsub.subscribe(*(wanted - subscribed))
            if subscribed - wanted:
                await pubsub.unsubscribe(*(subscribed - wanted))
        except _REDIS_ERRORS:
            self._subscribed = subscribed
            raise

    def _deliver_awareness(self, channel: str, data: bytes) -> None:
        sender = data[1 : 1 + data[0]]
        if sender == self._node:
            return
        prefix = f"{self.prefix}:awareness:"
        key = f"{self.prefix}:doc:{channel[len(prefix) :]}"
        followed = self._followed.get(key)
        if followed is not None:
            followed.document.receive_remote_awareness(data[1 + data[0] :])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _millis(entry_id: bytes | str) -> int:
    return _entry_id(entry_id)[0]


def _entry_id(value: bytes | str) -> tuple[int, int]:
    """A stream entry id (``milliseconds-sequence``) as a pair that compares in stream order."""
    millis, _, sequence = _text(value).partition("-")
    return int(millis), int(sequence or 0)


def _backoff(attempt: int, maximum: float) -> float:
    """Exponential backoff with full jitter: 50 ms, 100 ms, ... up to ``maximum`` seconds."""
    return random.uniform(0, min(maximum, 0.05 * 2 ** min(attempt, 16)))
