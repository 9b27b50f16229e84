"""The client side of a room: :class:`RoomClient` and its Sync API, over one WebSocket per participant.

```python
protocol = WebSocketClientProtocol(url=websocket_room_url(room_name="my-room"), token=jwt)
async with RoomClient(protocol=protocol) as room:
    document = await room.sync.open(path="notes.document")
    await document.synchronized
    document.root.append_child(tag_name="body", attributes={"text": "hello"})
    await room.sync.flush("notes.document")
```
"""

from ._document import Rejection, SyncedDocument, SyncState
from ._room import RoomClient
from ._schemas import SchemaClient
from ._sync import SyncClient
from ._transport import WebSocketClientProtocol

__all__ = [
    "Rejection",
    "RoomClient",
    "SchemaClient",
    "SyncClient",
    "SyncState",
    "SyncedDocument",
    "WebSocketClientProtocol",
]
