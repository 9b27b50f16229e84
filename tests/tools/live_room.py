"""The room the live tool tests work in (the ``live_room`` fixture of conftest.py gives one)."""

from __future__ import annotations

from dataclasses import dataclass

from mesh_tools.client import RoomClient, WebSocketClientProtocol
from mesh_tools.helpers import websocket_room_url
from mesh_tools.server import RoomServer
from mesh_tools.tokens import ParticipantToken


@dataclass(frozen=True, slots=True)
class LiveRoom:
    """A running room server and the one room the tests use, with its secret."""

    server: RoomServer
    name: str
    secret: str

    def participant(self, name: str) -> RoomClient:
        """A client for this room, connecting as participant ``name`` (use it with ``async with``)."""
        token = ParticipantToken.for_room(name=name, room=self.name).to_jwt(token=self.secret)
        url = websocket_room_url(room_name=self.name, base_url=self.server.url)
        return RoomClient(protocol=WebSocketClientProtocol(url=url, token=token))
