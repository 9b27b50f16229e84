"""The document :meth:`SyncClient.open` returns: a MeshDocument that knows its sync state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from pycrdt import Awareness

from ..document import MeshDocument, Violation
from ..errors import MeshError, PermissionDeniedError
from ..schema import MeshSchema
from ._presence import PresenceUser

__all__ = ["Rejection", "RejectionListener", "SyncState", "SyncedDocument"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    """The server found that an update from this client broke the schema and compensated it.

    The compensating edit arrives as a normal remote update; this record says what was undone.
    """

    violations: tuple[Violation, ...]

    @classmethod
    def from_wire(cls, violations: Any) -> Rejection:
        items = violations if isinstance(violations, list) else []
        return cls(
            tuple(
                Violation(str(v.get("code", "")), str(v.get("message", "")), v.get("element_id"))
                for v in items
                if isinstance(v, dict)
            )
        )


RejectionListener: TypeAlias = Callable[[Rejection], None]


class SyncState:
    """Where the link to the server stands for one document; its DocumentSession drives it.

    Read it through the document (``synchronized``, ``is_synchronized``, ``rejections``, ``sync_error``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        #: Every schema rejection the server reported for this client's updates, oldest first.
        self.rejections: list[Rejection] = []
        #: Why the server stopped syncing this document (closed it, or replaced its storage); else None.
        self.error: MeshError | None = None
        self._listeners: list[RejectionListener] = []
        self._synchronized = _new_waiter()

    @property
    def synchronized(self) -> Awaitable[None]:
        return asyncio.shield(self._synchronized)

    @property
    def is_synchronized(self) -> bool:
        return self._synchronized.done() and self._synchronized.exception() is None

    def on_rejected(self, listener: RejectionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def mark_synchronized(self) -> None:
        """The server's SyncStep2 is applied: the replica holds everything the server had."""
        if not self._synchronized.done():
            self._synchronized.set_result(None)

    def mark_unsynchronized(self) -> None:
        """The connection dropped: the next handshake synchronizes again."""
        if self._synchronized.done() and self.error is None:
            self._synchronized = _new_waiter()

    def fail(self, error: MeshError) -> None:
        """Syncing stopped for good; ``await synchronized`` raises ``error`` from now on."""
        self.error = error
        if self._synchronized.done():
            self._synchronized = _new_waiter()
        self._synchronized.set_exception(error)

    def reject(self, rejection: Rejection) -> None:
        """Record a rejection the server reported and tell the listeners."""
        self.rejections.append(rejection)
        logger.warning(
            "server rejected an update to %s: %s",
            self.path,
            "; ".join(v.message for v in rejection.violations) or "no details",
        )
        for listener in list(self._listeners):
            try:
                listener(rejection)
            except Exception:
                logger.exception("rejection listener failed")


class SyncedDocument(MeshDocument):
    """A MeshDocument that a SyncClient keeps in sync with the room.

    It is a full MeshDocument (read and edit it as usual; local edits go to the server by themselves)
    plus what the link adds: ``await document.synchronized``, the ``rejections`` the server reported,
    and ``sync_error`` once the server stopped syncing it. When the server opened it read-only for this
    participant (``read_only``), local edits raise PermissionDeniedError and everyone else's still arrive.

    ``awareness`` (a pycrdt ``Awareness``) is presence: this participant's state, published to the room
    (``{"user": {"name", "role"}, "element": id}``; change it with :meth:`focus` or ``set_local_state``),
    and everyone else's, which :attr:`peers` lists.
    """

    def __init__(
        self, *, path: str, schema: MeshSchema, read_only: bool = False, user: PresenceUser | None = None
    ) -> None:
        super().__init__(schema=schema, read_only=read_only)
        self.path = path
        self._user = user
        self.awareness = Awareness(self.ydoc)
        self.awareness.set_local_state({"user": user, "element": None} if user is not None else {})
        #: The server's storage generation of this document (see docs/adr/0003-reconnect-and-resync.md).
        self.epoch: str | None = None
        #: The link's state, driven by the SyncClient.
        self.sync_state = SyncState(path)

    @property
    def participant(self) -> str | None:
        """The name in the token this replica's connection was authenticated with: the room server books
        its edits to that name in the document's participant register, whatever the client claims."""
        return self._user["name"] if self._user is not None else None

    @property
    def synchronized(self) -> Awaitable[None]:
        """Resolves once the document holds everything the server had; ``await document.synchronized``.

        After a disconnect it resolves again when the resync completes. Raises the error that
        stopped the sync, if one did. Cancelling an ``await`` of it cancels only that wait.
        """
        return self.sync_state.synchronized

    @property
    def is_synchronized(self) -> bool:
        """True while connected and caught up with the server's state at the last handshake."""
        return self.sync_state.is_synchronized

    @property
    def rejections(self) -> list[Rejection]:
        """Every schema rejection the server reported for this client's updates, oldest first."""
        return self.sync_state.rejections

    @property
    def sync_error(self) -> MeshError | None:
        """Why the server stopped syncing this document (closed it, or replaced its storage); else None."""
        return self.sync_state.error

    def on_rejected(self, listener: RejectionListener) -> Callable[[], None]:
        """Call ``listener(rejection)`` whenever the server rejects one of this client's updates.

        Returns a function that removes the listener.
        """
        return self.sync_state.on_rejected(listener)

    @property
    def peers(self) -> dict[int, dict[str, Any]]:
        """The presence of the other participants on this document, by awareness client id."""
        me = self.awareness.client_id
        return {client: state for client, state in self.awareness.states.items() if client != me}

    def focus(self, element_id: str | None) -> None:
        """Say which element this participant works on (None: none); others see it at once."""
        state = self.awareness.get_local_state()
        if state is not None and state.get("element") != element_id:
            self.awareness.set_local_state({**state, "element": element_id})

    def _read_only_error(self) -> PermissionDeniedError:
        return PermissionDeniedError(
            f"this participant may only read {self.path}",
            hint="the token's sync scope is read-only for this path; connect with a read-write token to edit",
        )


def _new_waiter() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # Nobody may await it; retrieving the exception here keeps asyncio from logging it as lost.
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future
