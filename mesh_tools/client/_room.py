"""RoomClient: one participant's connection to a room, kept alive across drops.

It owns the WebSocket: it correlates requests with their answers (with timeouts), hands binary frames
and server pushes to the :class:`SyncClient`, and when the link drops it fails the requests in flight
with ConnectionLostError and reconnects with exponential backoff and jitter until closed; the
SyncClient then re-opens its documents and resyncs them by state vector
(docs/adr/0003-reconnect-and-resync.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_before_delay, stop_never
from tenacity.stop import StopBaseT
from tenacity.wait import wait_random_exponential
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..errors import (
    AuthenticationError,
    ConnectionLostError,
    MeshError,
    ProtocolError,
    RequestTimeoutError,
    error_from_dict,
)
from ..sync import CloseCode, Push, PushType, Request, Response, decode_binary, decode_text, encode_text
from ._requests import PendingRequests, ResultHook
from ._schemas import SchemaClient
from ._session import SendFrame
from ._sync import SyncClient
from ._transport import WebSocketClientProtocol

__all__ = ["RoomClient"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_FIRST_RETRY_DELAY = 0.1  # seconds; doubles per failed attempt, with full jitter


class RoomClient:
    """A participant's session in one room, as an async context manager.

    ``async with RoomClient(protocol=WebSocketClientProtocol(url=..., token=...)) as room:`` connects
    (retrying for up to ``connect_timeout`` seconds), and on exit flushes and closes every open document
    before it disconnects. Documents live under :attr:`sync`, schemas under :attr:`schemas`.

    Every request raises RequestTimeoutError when the server does not answer within
    ``request_timeout`` seconds. When the link drops before the answer came, the requests that are
    safe to repeat (describe, list, open, flush, close) are repeated on the next connection within
    that timeout; the others (create, sync, schema put) raise ConnectionLostError.
    Drops are repaired in the background: reconnect attempts back off exponentially (with jitter) up to
    ``max_reconnect_delay`` seconds apart and go on until the client is closed, or until the server
    refuses the token, which ends the session with AuthenticationError.
    """

    def __init__(
        self,
        *,
        protocol: WebSocketClientProtocol,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_reconnect_delay: float = 5.0,
    ) -> None:
        self.protocol = protocol
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_reconnect_delay = max_reconnect_delay
        #: The Sync API: create, describe, open, close, flush, sync and list documents.
        self.sync = SyncClient(self)
        #: Schemas stored in the room (``.schemas/<name>.json``).
        self.schemas = SchemaClient(self)
        self._pending = PendingRequests()
        self._connection: ClientConnection | None = None
        self._state_changed = asyncio.Event()
        self._dropped = asyncio.Event()  # set (and replaced) when the current connection is gone
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failure: MeshError | None = None
        self._closing = False
        self._unstable = 0  # connections in a row that closed before they were stable

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "disconnected"
        return f"<RoomClient {self.room_name!r} {state}>"

    @property
    def room_name(self) -> str:
        return self.protocol.room_name

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` began or the session ended for good (see ``start``)."""
        return self._closing or self._failure is not None

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> RoomClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        errors = await self.close()
        if exc_type is None and errors:
            raise errors[0]

    async def start(self) -> None:
        """Connect; raises ConnectionLostError if the server stays unreachable for ``connect_timeout``."""
        if self._runner is not None:
            raise RuntimeError("a RoomClient starts once")
        connection = await self._connect(stop_before_delay(self.connect_timeout))
        self._runner = asyncio.get_running_loop().create_task(
            self._run(connection), name=f"mesh-tools room {self.room_name}"
        )

    async def close(self) -> list[MeshError]:
        """Flush and close every open document, then disconnect.

        Returns the errors of documents whose last changes could not be confirmed (also logged).
        """
        if self._closing:
            return []
        errors = await self.sync.close_all()
        self._closing = True
        self._state_changed.set()
        self._signal_drop()
        if self._connection is not None:
            await self._connection.close()
        for task in [self._runner, *self._tasks]:
            if task is not None:
                task.cancel()
        pending = [task for task in [self._runner, *self._tasks] if task is not None]
        if pending:
            await asyncio.wait(pending)
        self._pending.fail_all(
            lambda kind: ConnectionLostError(f"the room client closed before {kind} was answered")
        )
        self.sync.connection_lost()
        return errors

    # -- requests ------------------------------------------------------------------------------

    async def request(
        self,
        request_type: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_result: ResultHook | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """Send one request and return its result; the server's error is raised as its MeshError class.

        While disconnected the request waits for the reconnect, within the same ``timeout``. If the link
        drops before the answer, a plain request fails with ConnectionLostError (it may or may not have
        been applied); an ``idempotent`` one is sent again on the next connection
        (:meth:`retry_through_drops`) and so fails only with RequestTimeoutError, or once the client is
        closed.
        ``on_result`` runs synchronously when the result is read, before any later frame is handled:
        use it to register what the frames that follow the answer need (a channel).
        """
        limit = self.request_timeout if timeout is None else timeout
        frame_params = dict(params or {})
        started = False

        async def exchange() -> dict[str, Any]:
            nonlocal started
            connection = self._connection or await self._wait_connected()
            request_id, future = self._pending.start(request_type, on_result)
            started = True
            try:
                try:
                    await connection.send(encode_text(Request(request_id, request_type, frame_params)))
                except ConnectionClosed:
                    raise _lost(self.protocol.url, request_type, connection) from None
                return await future
            finally:
                self._pending.discard(request_id)  # a late answer is then ignored

        try:
            async with asyncio.timeout(limit):
                return await (self.retry_through_drops(exchange) if idempotent else exchange())
        except TimeoutError:
            if not (started or idempotent):
                raise ConnectionLostError(
                    f"not connected to {self.protocol.url}: "
                    f"{request_type} could not be sent within {limit:g} s",
                    hint="the client keeps reconnecting; is the server running?",
                ) from None
            raise RequestTimeoutError(
                f"the server did not answer {request_type} within {limit:g} s",
                hint="the server may be overloaded or unreachable (the client keeps reconnecting); "
                "retry, or raise request_timeout",
            ) from None

    # -- what the SyncClient builds on ---------------------------------------------------------

    def frame_sender(self) -> SendFrame:
        """Where a channel opened by the answer being handled right now sends its frames."""
        if self._connection is None:
            raise ConnectionLostError("the connection closed while a document was being opened")
        return self._connection.send

    async def retry_through_drops(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``attempt`` again each time a dropped connection cuts it short (ConnectionLostError).

        Only for work that is safe to repeat: the answer was lost, not necessarily the effect. Before
        each retry it waits until the read loop has seen the drop, so it never spins on a dead socket
        the client has not noticed yet; the retry then waits for the next connection. A closed or
        refused session raises at once. It never gives up by itself: the caller bounds it with a timeout.
        """
        while True:
            dropped = self._dropped
            try:
                return await attempt()
            except ConnectionLostError as exc:
                if self.is_closed:
                    raise
                logger.info("%s: %s; retrying on the next connection", self.room_name, exc)
            await dropped.wait()

    def _signal_drop(self) -> None:
        """Wake whatever waits in :meth:`retry_through_drops` for the current connection to be gone."""
        self._dropped.set()
        self._dropped = asyncio.Event()

    def run_in_background(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run a task until it ends or the client closes; a failure is logged, never lost."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # -- connection loop -----------------------------------------------------------------------

    async def _connect(self, stop: StopBaseT) -> ClientConnection:
        retrying = AsyncRetrying(
            stop=stop,
            wait=wait_random_exponential(multiplier=_FIRST_RETRY_DELAY, max=self.max_reconnect_delay),
            retry=retry_if_exception_type(ConnectionLostError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        connection: ClientConnection = await retrying(self.protocol.connect)
        return connection

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("%s; attempt %d, retrying in %.2f s", error, state.attempt_number, delay)

    async def _run(self, connection: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            opened_at = loop.time()
            self._connection = connection
            self._state_changed.set()
            self.sync.connection_opened()
            await self._read(connection)
            self._connection = None
            self._state_changed.clear()
            self._signal_drop()
            self._pending.fail_all(functools.partial(_lost, self.protocol.url, connection=connection))
            self.sync.connection_lost()
            if self._closing:
                return
            fatal = _close_error(connection)
            if fatal is not None:
                self._fail(fatal)
                return
            # A connection the server drops right away (1013 again, a crash loop) must not make us spin.
            stable = loop.time() - opened_at >= self.max_reconnect_delay
            self._unstable = 0 if stable else self._unstable + 1
            ceiling = min(self.max_reconnect_delay, _FIRST_RETRY_DELAY * 2**self._unstable)
            await asyncio.sleep(random.uniform(0, ceiling))
            try:
                connection = await self._connect(stop_never)
            except MeshError as exc:
                self._fail(exc)
                return

    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for frame in connection:
                try:
                    if isinstance(frame, str):
                        self._on_text(frame)
                    else:
                        self._on_binary(frame)
                except Exception:
                    # A listener of the application failed while a remote change was applied; the
                    # change itself is in. One bad callback must not take the connection down.
                    logger.exception("%s: handling a frame from the server failed", self.room_name)
        except ConnectionClosed:
            pass
        code = connection.close_code
        if code == CloseCode.TRY_AGAIN_LATER:
            logger.warning("%s: the server dropped this client as too slow (1013); resyncing", self.room_name)
        elif not self._closing:
            logger.info("%s: connection closed (%s %s)", self.room_name, code, connection.close_reason or "")

    def _fail(self, error: MeshError) -> None:
        logger.error("%s: giving up the connection: %s", self.room_name, error)
        self._failure = error
        self._state_changed.set()
        self.sync.fail_all(error)

    async def _wait_connected(self) -> ClientConnection:
        while self._connection is None:
            if self._failure is not None:
                raise self._failure
            if self._closing:
                raise ConnectionLostError("the room client is closed")
            await self._state_changed.wait()
        return self._connection

    def _on_text(self, text: str) -> None:
        try:
            message = decode_text(text)
        except ProtocolError:
            logger.warning("ignoring a malformed text frame from the server", exc_info=True)
            return
        if isinstance(message, Response):
            if not self._pending.resolve(message):
                logger.debug("ignoring the answer to request %d: nobody waits for it", message.id)
        elif isinstance(message, Push):
            if message.type == PushType.ERROR:
                error = message.fields.get("error")
                detail = error_from_dict(error) if isinstance(error, dict) else error
                logger.warning("%s: the server reported: %s", self.room_name, detail)
            else:
                self.sync.receive_push(message)
        else:
            logger.warning("ignoring a request from the server: %s", message.type)

    def _on_binary(self, frame: bytes) -> None:
        try:
            channel, message = decode_binary(frame)
        except ProtocolError:
            logger.warning("ignoring a malformed binary frame from the server", exc_info=True)
            return
        self.sync.receive_frame(channel, message)


def _lost(url: str, request_type: str, connection: ClientConnection) -> ConnectionLostError:
    code = connection.close_code
    return ConnectionLostError(
        f"the connection to {url} closed ({code if code is not None else 'no close code'}) "
        f"before {request_type} was answered",
        hint="it may or may not have been applied; the client reconnects by itself",
    )


def _close_error(connection: ClientConnection) -> MeshError | None:
    """The error that ends the session for good, for close codes a reconnect cannot fix."""
    if connection.close_code == CloseCode.TOKEN_EXPIRED:
        return AuthenticationError(
            "the token expired during the session", hint="mint a new token and connect again"
        )
    return None
