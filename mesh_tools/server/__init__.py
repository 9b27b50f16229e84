"""The room server: rooms of live documents behind authenticated WebSockets, with durable storage."""

from .room_server import RoomServer
from .sqlite_storage import SQLiteStorage
from .storage import Storage, StoredDocument
from .web_page import page_url

__all__ = ["RoomServer", "SQLiteStorage", "Storage", "StoredDocument", "page_url"]
