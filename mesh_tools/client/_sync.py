"""SyncClient: the seed's Sync API (create, describe, open, close, sync) plus flush and list.

Open documents are reference counted by path. Each open document has a :class:`DocumentSession` that
streams its local edits to the server and applies the server's; the sessions survive reconnects.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..document import Violation
from ..errors import (
    ConnectionLostError,
    InvalidOperationError,
    MeshError,
    RequestTimeoutError,
    error_from_dict,
)
from ..schema import MeshSchema
from ..sync import (
    ChannelParams,
    CreateParams,
    OpenParams,
    PathParams,
    Push,
    PushType,
    RequestType,
    SyncParams,
    read_field,
    read_open_result,
)
from ._document import Rejection, SyncedDocument
from ._presence import participant_identity
from ._session import DocumentSession

if TYPE_CHECKING:
    from ._room import RoomClient

__all__ = ["SyncClient"]

logger = logging.getLogger(__name__)


class SyncClient:
    """Live documents of a room; reached as ``room.sync``.

    Local edits to an open document go to the server by themselves, in order, coalesced under load;
    the server's edits are applied as they arrive. ``flush`` and ``close`` return once the server has
    durably stored every local change made before the call.
    """

    def __init__(self, room: RoomClient) -> None:
        self.room = room
        self._sessions: dict[str, DocumentSession] = {}
        self._channels: dict[int, DocumentSession] = {}
        self._opening: dict[str, asyncio.Future[None]] = {}
        self._closing: dict[str, asyncio.Event] = {}

    # -- requests that need no open document ---------------------------------------------------

    async def create(
        self,
        path: str,
        json: Mapping[str, Any] | None = None,
        *,
        schema: MeshSchema | Mapping[str, Any] | None = None,
    ) -> None:
        """Create the document at ``path``, optionally with content (document JSON) and a schema.

        Without ``schema`` the server picks ``.schemas/<extension>.json``. Raises DocumentExistsError
        if the document exists.
        """
        if schema is not None and not isinstance(schema, MeshSchema):
            schema = MeshSchema.from_json(schema)
        params = CreateParams(
            path=path,
            json=None if json is None else dict(json),
            schema=None if schema is None else schema.to_json(),
        )
        await self.room.request(RequestType.SYNC_CREATE, params)

    async def describe(self, path: str) -> dict[str, Any]:
        """The document as JSON (with element ids), without opening a sync session."""
        result = await self.room.request(RequestType.SYNC_DESCRIBE, PathParams(path=path), idempotent=True)
        return read_field(result, "json", dict)

    async def list(self) -> list[str]:
        """The paths of the room's documents."""
        result = await self.room.request(RequestType.SYNC_LIST, idempotent=True)
        return [str(path) for path in read_field(result, "paths", list)]

    async def sync(self, path: str, data: bytes) -> builtins.list[Violation]:
        """Send an already encoded y-update for ``path``; returns once the server applied and stored it.

        Returns the schema violations the update brought in, which the server has already mended.
        If the document is open here, the update is applied to the local replica too.
        """
        params = SyncParams(path=path, data=base64.b64encode(data).decode("ascii"))
        result = await self.room.request(RequestType.SYNC_SYNC, params)
        session = self._sessions.get(path)
        if session is not None and session.document is not None:
            session.apply_from_server(data)
        return list(Rejection.from_wire(result.get("violations")).violations)

    # -- open documents ------------------------------------------------------------------------

    async def open(self, path: str, create: bool = True) -> SyncedDocument:
        """Open the document at ``path`` (creating it if ``create``) and keep it in sync.

        Opening an open path returns the same document and counts one more reference; every open
        needs its :meth:`close`. ``await document.synchronized`` waits for the server's state.
        """
        while True:
            closing = self._closing.get(path)
            if closing is not None:
                await closing.wait()
                continue
            session = self._sessions.get(path)
            if session is None:
                session = await self._first_open(path, create)
                break
            opening = self._opening.get(path)
            if opening is None:
                break
            await asyncio.wait([opening])
            if not opening.cancelled():
                if (error := opening.exception()) is not None:
                    raise error
                break
            # The task that was opening it was cancelled: start over, possibly opening it ourselves.
        session.refcount += 1
        assert session.document is not None
        return session.document

    async def close(self, path: str, *, timeout: float | None = None) -> None:
        """Release one reference; the last one flushes, tells the server, and stops syncing.

        Never sleeps: it returns as soon as the server confirmed it stored everything, through
        reconnects like :meth:`flush`. If that fails (RequestTimeoutError, the document's
        ``sync_error``), the document is still closed locally and the error says its last changes may
        not have reached the server. A read-only document has nothing to confirm: it is closed at
        once and its channel released in the background.
        """
        session = self._open_session(path)
        session.refcount -= 1
        if session.refcount > 0:
            return
        if session.read_only:
            channel = session.channel
            self._forget(session)
            if channel is not None:
                self._release_channel(channel)
            return
        done = self._closing[path] = asyncio.Event()
        try:
            await self._deliver(session, RequestType.SYNC_CLOSE, timeout)
        finally:
            self._forget(session)
            del self._closing[path]
            done.set()

    async def flush(self, path: str, *, timeout: float | None = None) -> None:
        """Return once the server has durably stored every change made to ``path`` before the call.

        Waits through reconnects: a change sent on a connection that dropped is re-sent by the next
        handshake and confirmed there. Raises RequestTimeoutError if that takes longer than ``timeout``
        (default ``room.request_timeout``), or the document's ``sync_error`` if syncing stopped.
        A read-only document has no changes of its own to store: it returns at once.
        """
        session = self._open_session(path)
        if not session.read_only:
            await self._deliver(session, RequestType.SYNC_FLUSH, timeout)

    def get_open_documents(self) -> dict[str, SyncedDocument]:
        """The open documents by path (a copy)."""
        return {
            path: session.document
            for path, session in self._sessions.items()
            if session.document is not None and session.refcount > 0
        }

    # -- internals -----------------------------------------------------------------------------

    async def _first_open(self, path: str, create: bool) -> DocumentSession:
        session = self._sessions[path] = DocumentSession(path, create=create)
        opening = self._opening[path] = asyncio.get_running_loop().create_future()
        try:
            await self._open_channel(session, idempotent=True)
        except BaseException as exc:
            self._forget(session)
            if isinstance(exc, MeshError):
                opening.set_exception(exc)
                opening.exception()  # the waiters, if any, re-raise it; nobody else must log it
            else:
                opening.cancel()
            raise
        else:
            opening.set_result(None)
        finally:
            del self._opening[path]
        return session

    def _forget(self, session: DocumentSession) -> None:
        del self._sessions[session.path]
        if session.channel is not None:
            self._channels.pop(session.channel, None)
        session.release()

    def _open_session(self, path: str) -> DocumentSession:
        session = self._sessions.get(path)
        if session is None or session.refcount <= 0:
            raise InvalidOperationError(f"{path} is not open", hint="open it with room.sync.open(path) first")
        return session

    async def _open_channel(self, session: DocumentSession, *, idempotent: bool) -> None:
        """Ask the server for a channel and attach the session to it when the answer is read.

        ``idempotent``: repeat ``sync.open`` on the next connection if the answer was lost (a first
        open). A re-open must not: the next connection starts a re-open of its own.
        """

        def attach(result: dict[str, Any]) -> None:
            channel = read_field(result, "channel", int)
            if self._sessions.get(session.path) is not session:
                # Closed while the answer was on its way: give the channel back.
                self._release_channel(channel)
                return
            try:
                opened = read_open_result(result)
                if session.document is None:
                    schema = MeshSchema.from_json(opened["schema"])
                    document = SyncedDocument(
                        path=session.path,
                        schema=schema,
                        read_only=opened["read_only"],
                        user=participant_identity(self.room.protocol.token),
                    )
                    session.bind(document)
                session.attach(
                    channel, self.room.frame_sender(), opened["epoch"], read_only=opened["read_only"]
                )
            except MeshError:
                self._release_channel(channel)
                raise
            self._channels[channel] = session

        await self.room.request(
            RequestType.SYNC_OPEN,
            OpenParams(path=session.path, create=session.create),
            on_result=attach,
            idempotent=idempotent,
        )

    def _release_channel(self, channel: int) -> None:
        async def release() -> None:
            try:
                await self.room.request(RequestType.SYNC_CLOSE, ChannelParams(channel=channel))
            except MeshError as exc:
                logger.debug("closing unused channel %d failed: %s", channel, exc)

        self.room.run_in_background(release(), name=f"mesh-tools close channel {channel}")

    async def _reopen(self, session: DocumentSession) -> None:
        while self._sessions.get(session.path) is session and session.error is None:
            try:
                await self._open_channel(session, idempotent=False)
                return
            except ConnectionLostError:
                return  # the next connection tries again
            except RequestTimeoutError as exc:
                logger.warning("re-opening %s: %s; trying again", session.path, exc)
            except MeshError as exc:
                logger.error("cannot re-open %s after reconnecting: %s", session.path, exc)
                session.fail(exc)

    async def _deliver(
        self, session: DocumentSession, request_type: RequestType, timeout: float | None
    ) -> None:
        limit = self.room.request_timeout if timeout is None else timeout

        async def confirm() -> None:
            channel = await session.wait_delivered()
            # No await between reading the channel and sending: both belong to one connection. If it
            # drops before the answer, the changes are unconfirmed, not lost: the next connection's
            # handshake carries them again and the request is repeated there.
            await self.room.request(request_type, ChannelParams(channel=channel), timeout=limit)

        try:
            async with asyncio.timeout(limit):
                await self.room.retry_through_drops(confirm)
        except TimeoutError:
            raise RequestTimeoutError(
                f"{session.path}: local changes were not confirmed within {limit:g} s",
                hint="the client is not connected or the server is slow; it keeps trying in the background",
            ) from None

    # -- the seam RoomClient drives: connection events, frames and pushes for this client's channels --

    async def close_all(self) -> builtins.list[MeshError]:
        """Flush and close every open document (the room is closing); returns the errors, logged."""
        paths = [
            path
            for path, session in self._sessions.items()
            if session.refcount > 0 and path not in self._closing
        ]
        for path in paths:
            self._sessions[path].refcount = 1
        outcomes = await asyncio.gather(*(self.close(path) for path in paths), return_exceptions=True)
        errors: builtins.list[MeshError] = []
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, MeshError):
                logger.warning("closing %s: %s", path, outcome)
                errors.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        return errors

    def connection_opened(self) -> None:
        """A new connection is up: re-open every document that lost its channel, and resync it."""
        for session in self._sessions.values():
            if session.document is not None and session.error is None and not session.is_attached:
                self.room.run_in_background(self._reopen(session), name=f"mesh-tools reopen {session.path}")

    def connection_lost(self) -> None:
        """The connection is gone: every channel with it; the documents stay and resync later."""
        self._channels.clear()
        for session in self._sessions.values():
            session.detach()

    def fail_all(self, error: MeshError) -> None:
        """The session ended for good: every document stops syncing with ``error``."""
        self._channels.clear()
        for session in self._sessions.values():
            session.fail(error)

    def receive_frame(self, channel: int, message: bytes) -> None:
        """A y-message the server sent on ``channel``."""
        session = self._channels.get(channel)
        if session is None:
            logger.debug("ignoring a frame for channel %d, which is not open", channel)
            return
        session.receive(message)

    def receive_push(self, push: Push) -> None:
        """A ``sync.rejected`` or ``sync.closed`` push."""
        channel = push.fields.get("channel")
        if not isinstance(channel, int):
            logger.debug("ignoring %s push without a channel", push.type)
            return
        session = self._channels.get(channel)
        if session is None or session.document is None:
            logger.debug("ignoring %s push for channel %r", push.type, channel)
            return
        if push.type == PushType.SYNC_REJECTED:
            session.document.sync_state.reject(Rejection.from_wire(push.fields.get("violations")))
        elif push.type == PushType.SYNC_CLOSED:
            error = push.fields.get("error")
            reason = (
                error_from_dict(error)
                if isinstance(error, dict)
                else MeshError(f"the server closed {session.path}", hint="open it again")
            )
            logger.warning("the server stopped syncing %s: %s", session.path, reason)
            del self._channels[channel]
            session.fail(reason)
        else:
            logger.debug("ignoring unknown push %s", push.type)
