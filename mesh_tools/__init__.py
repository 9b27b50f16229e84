"""mesh-tools: live, schema-typed CRDT documents that people and LLM agents co-edit.

The names here are the ones MeshAgent's ``meshagent.api`` exports, so programs written for it run with
only their import lines changed.
"""

from .client import RoomClient, SyncClient, WebSocketClientProtocol
from .document import Element, MeshDocument
from .errors import MeshError, RoomServerException
from .schema import ChildProperty, ElementType, MeshSchema, ValueProperty
from .tokens import ApiScope, ParticipantGrant, ParticipantToken

__all__ = [
    "ApiScope",
    "ChildProperty",
    "Element",
    "ElementType",
    "MeshDocument",
    "MeshError",
    "MeshSchema",
    "ParticipantGrant",
    "ParticipantToken",
    "RoomClient",
    "RoomServerException",
    "SyncClient",
    "ValueProperty",
    "WebSocketClientProtocol",
]
