"""The room server: rooms of live documents behind authenticated WebSockets, with durable storage.

One node: ``RoomServer(data_dir=...)`` (SQLite). Several nodes serving the same rooms:
``RoomServer(storage=PostgresStorage(url), bus=RedisBus(url))`` (docs/deploy.md); their drivers come
with the ``cluster`` extra and are imported only when those classes are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bus import DocumentBus
from ._memory import reuse_freed_memory
from ._rate_limit import RateLimits
from ._room_server import RoomServer
from ._sqlite_storage import SQLiteStorage
from ._storage import Storage, StoredDocument
from ._web_page import page_url

if TYPE_CHECKING:
    from ._postgres_storage import PostgresStorage
    from ._redis_bus import RedisBus

__all__ = [
    "DocumentBus",
    "PostgresStorage",
    "RateLimits",
    "RedisBus",
    "RoomServer",
    "SQLiteStorage",
    "Storage",
    "StoredDocument",
    "page_url",
    "reuse_freed_memory",
]


def __getattr__(name: str) -> Any:
    # psycopg and redis are optional: import them only for a cluster.
    if name == "PostgresStorage":
        from ._postgres_storage import PostgresStorage

        return PostgresStorage
    if name == "RedisBus":
        from ._redis_bus import RedisBus

        return RedisBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
