"""The room server: rooms of live documents behind authenticated WebSockets, with durable storage."""

from ._room_server import RoomServer
from ._sqlite_storage import SQLiteStorage
from ._storage import Storage, StoredDocument

__all__ = ["RoomServer", "SQLiteStorage", "Storage", "StoredDocument"]
