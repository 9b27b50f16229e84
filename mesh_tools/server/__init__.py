"""The room server: rooms of live documents behind authenticated WebSockets, with durable storage.

One node: ``RoomServer(data_dir=...)`` (SQLite), or ``RoomServer(storage=PostgresStorage(url))``; the
PostgreSQL driver comes with the ``cluster`` extra and is imported only when that class is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .room_server import RoomServer
from .sqlite_storage import SQLiteStorage
from .storage import Storage, StoredDocument

if TYPE_CHECKING:
    from ._postgres_storage import PostgresStorage

__all__ = [
    "DocumentBus",
    "PostgresStorage",
    "RedisBus",
    "RoomServer",
    "SQLiteStorage",
    "Storage",
    "StoredDocument",
]


def __getattr__(name: str) -> Any:
    # psycopg is optional: import it only when PostgreSQL storage is used.
    if name == "PostgresStorage":
        from ._postgres_storage import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
