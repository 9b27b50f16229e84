"""The y-sync handshake, the same at both ends: send your state vector, answer the peer's with what it lacks.

A channel opens with each side sending SyncStep1 (its state vector); each answers the other's Step1
with a SyncStep2 holding every change the other lacks. After that, changes travel as Update messages.
"""

from __future__ import annotations

from typing import Any, Protocol

from pycrdt import Doc, create_sync_message

from ..errors import RemoteProtocolError
from ._frames import sync_step2_message

__all__ = ["Replica", "asks_for_everything", "sync_step1", "sync_step2"]

#: A SyncStep1 carrying an empty state vector: what a replica that holds nothing sends.
_STEP1_OF_NOTHING = create_sync_message(Doc())


class Replica(Protocol):
    """What the handshake needs of a document replica (``MeshDocument`` is one)."""

    @property
    def ydoc(self) -> Doc[Any]: ...

    def get_update(self, state: bytes | None = None) -> bytes: ...


def sync_step1(replica: Replica) -> bytes:
    """The SyncStep1 y-message: the replica's state vector."""
    return create_sync_message(replica.ydoc)


def sync_step2(replica: Replica, state: bytes) -> bytes:
    """The SyncStep2 y-message that answers a peer's Step1 carrying ``state``: all the peer lacks."""
    try:
        missing = replica.get_update(state)
    except ValueError:
        raise RemoteProtocolError("the SyncStep1 state vector cannot be decoded") from None
    return sync_step2_message(missing)


def asks_for_everything(message: bytes) -> bool:
    """Whether ``message`` is the SyncStep1 of a peer that holds nothing: its answer is the whole document."""
    return message == _STEP1_OF_NOTHING
