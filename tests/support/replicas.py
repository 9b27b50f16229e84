"""Two replicas of one document wired together in memory, like two clients of one room."""

from __future__ import annotations

from mesh_tools.document import MeshDocument


def replica_of(document: MeshDocument) -> MeshDocument:
    """A second participant's replica, wired both ways like two clients of one room."""
    other = MeshDocument(schema=document.schema)
    other.apply_update(document.get_update())
    document.on_update(lambda update, origin: other.apply_update(update) if origin is None else None)
    other.on_update(lambda update, origin: document.apply_update(update) if origin is None else None)
    return other
