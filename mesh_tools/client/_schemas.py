"""The schemas stored in a room (``.schemas/<name>.json``); a document's extension picks one by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..schema import MeshSchema
from ..sync import RequestType, SchemaPutParams, read_field

if TYPE_CHECKING:
    from ._room import RoomClient

__all__ = ["SchemaClient"]


class SchemaClient:
    """Store and list a room's schemas; reached as ``room.schemas``."""

    def __init__(self, room: RoomClient) -> None:
        self.room = room

    async def put(self, name: str, schema: MeshSchema | Mapping[str, Any]) -> None:
        """Store ``schema`` as ``.schemas/<name>.json``; documents ending in ``.<name>`` then use it.

        A mapping is checked locally first (``MeshSchema.from_json``), so a bad file fails here with
        the reason rather than on the server.
        """
        if not isinstance(schema, MeshSchema):
            schema = MeshSchema.from_json(schema)
        await self.room.request(RequestType.SCHEMA_PUT, SchemaPutParams(name=name, schema=schema.to_json()))

    async def list(self) -> list[str]:
        """The names of the room's schemas."""
        result = await self.room.request(RequestType.SCHEMA_LIST, idempotent=True)
        return [str(name) for name in read_field(result, "names", list)]
