"""The room server: rooms of live documents behind authenticated WebSockets, with durable storage."""

from ._rate_limit import RateLimits
from .room_server import RoomServer
from .sqlite_storage import SQLiteStorage
from .storage import Storage, StoredDocument

__all__ = ["RateLimits", "RoomServer", "SQLiteStorage", "Storage", "StoredDocument"]
