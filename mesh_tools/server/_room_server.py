"""The room server: authenticated WebSockets at ``/rooms/{room}`` (docs/protocol.md) and at
``/rooms/{room}/docs/{path}`` (one document over plain y-websocket, _yjs_session.py), and the live web
page of a document at the same URL without an upgrade (_web_page.py).

Used embedded (tests, demos) or by ``mesh-tools serve``::

    async with RoomServer(data_dir="data", secret=SECRET) as server:
        print(server.url)  # ws://127.0.0.1:PORT; clients connect to f"{server.url}/rooms/{room}"

Tokens are checked during the HTTP handshake, before any frame: 401 for a missing, malformed, badly
signed, expired or unknown-key token, 403 for a token of another room, 404 for another URL; the body is
the error as JSON (``{"code", "message", "hint"}``). Browsers and y-websocket clients, which cannot read
that, get the close code ``4000 + status`` and a reason instead (_routes.py). A session outliving its
token is closed with 4401.
Handshakes that fail on the client's side (it went away, or sent no valid WebSocket request) are
logged at DEBUG or INFO without a traceback; websockets would log each as an ERROR.

Several servers serve the same rooms when they share a PostgreSQL storage and a ``bus`` (Redis); a
load balancer asks ``GET /healthz/live`` (the process answers) and ``GET /healthz/ready`` (storage and
bus connected: 200, else 503). See docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import weakref
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from .._log_redaction import redact_args
from ..document import DocumentLimits
from ..errors import (
    AuthenticationError,
    InvalidPathError,
    MeshError,
    PermissionDeniedError,
)
from ..sync import CloseCode
from ..tokens import ParticipantToken
from ._admission import ConnectionGate, gated_connection_class
from ._bus import DocumentBus
from ._byte_budget import ByteBudget
from ._frame_reader import receive_batches
from ._live_document import READS_ELSEWHERE_BYTES
from ._memory import MemoryTrimmer
from ._participant import Participant
from ._rate_limit import RateLimits
from ._room import Room
from ._routes import Refusal, Route, parse_route
from ._session import Session
from ._sqlite_storage import SQLiteStorage
from ._storage import Storage
from ._web_page import web_response
from ._worker_threads import FastGilSwitching
from ._yjs_session import YjsParticipant, YjsSession

__all__ = ["DATABASE_NAME", "RoomServer"]

logger = logging.getLogger(__name__)

#: File name of the SQLite database inside ``data_dir``.
DATABASE_NAME = "rooms.sqlite3"
_HEALTH_URLS = ("/healthz", "/healthz/ready", "/healthz/live")
#: Bytes of messages already received that one turn of a connection's handler takes at most (a bigger
#: message goes alone): enough for hundreds of small edits, small beside a send queue.
_BATCH_BYTES = 256 * 2**10


@dataclass(frozen=True, slots=True)
class _Admission:
    route: Route
    token: ParticipantToken


class _FrameHandler(Protocol):
    def pace(self, frames: Sequence[str | bytes]) -> Awaitable[list[str | bytes]]: ...
    def handle_frames(self, frames: Sequence[str | bytes]) -> Awaitable[None]: ...
    def close(self) -> None: ...


class RoomServer:
    """A WebSocket room server.

    Keys: ``secret`` (one HS256 secret) or ``secrets`` (``{kid: secret}``; the token header's ``kid``
    picks one). Storage: ``data_dir`` for SQLite in ``data_dir/rooms.sqlite3``, or any ``storage``;
    with a ``bus`` too, several servers on one shared storage serve the same rooms.
    Limits: ``max_message_size`` (larger frames close the connection with 1009), ``send_queue_bytes``
    (bytes queued per participant, after merging its pending updates, before it is closed with 1013),
    ``max_errors`` (bad frames in a row before 1008), ``rate_limits`` (what one connection may send
    before it is slowed down), ``max_connections_per_address`` and ``max_handshaking`` (TCP connections
    from one address, and connections not yet through their handshake, before more are aborted),
    ``document_limits`` (how deep and large each document may grow). ``keep_loaded``: seconds a
    document nobody uses stays loaded (0 unloads it at once). ``allowed_origins``: when given, a
    browser (a handshake with an ``Origin`` header) from any other origin is refused; programs, which
    send no ``Origin``, are not concerned.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        storage: Storage | None = None,
        bus: DocumentBus | None = None,
        secret: str | None = None,
        secrets: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_size: int = 16 * 2**20,
        send_queue_bytes: int = 32 * 2**20,
        keep_loaded: float = 0.0,
        max_errors: int = 32,
        ping_interval: float | None = 20.0,
        rate_limits: RateLimits | None = None,
        max_connections_per_address: int = 256,
        max_handshaking: int = 256,
        document_limits: DocumentLimits | None = None,
        allowed_origins: Iterable[str] | None = None,
    ) -> None:
        if (secret is None) == (secrets is None):
            raise ValueError("pass exactly one of secret= and secrets=")
        if (data_dir is None) == (storage is None):
            raise ValueError("pass exactly one of data_dir= and storage=")
        self._keys: str | dict[str, str] = secret if secret is not None else dict(secrets or {})
        if not self._keys:
            raise ValueError("the server needs a non-empty secret")
        self.storage: Storage = (
            storage if storage is not None else SQLiteStorage(Path(data_dir or ".") / DATABASE_NAME)
        )
        self.bus = bus
        self.host = host
        self.port = port
        self.max_message_size = max_message_size
        self.send_queue_bytes = send_queue_bytes
        self.keep_loaded = keep_loaded
        self.max_errors = max_errors
        self.rate_limits = rate_limits or RateLimits()
        self.document_limits = document_limits or DocumentLimits()
        self._gate = ConnectionGate(max_connections_per_address, max_handshaking)
        self.ping_interval = ping_interval
        self.allowed_origins = None if allowed_origins is None else frozenset(allowed_origins)
        self._server: Server | None = None
        self._rooms: dict[str, Room] = {}
        self._trimmer = MemoryTrimmer()
        #: Big updates of every room being read in the worker process, bounded in bytes.
        self._reads = ByteBudget(READS_ELSEWHERE_BYTES)
        # Filled by the handshake check, read once by the connection handler.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, _Admission | Refusal] = (
            weakref.WeakKeyDictionary()
        )

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """``ws://HOST:PORT`` with the port actually bound (``port=0`` picks a free one)."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://{self.host}:{port}"

    @property
    def rooms(self) -> dict[str, Room]:
        """Rooms with participants or loaded documents, by name."""
        return dict(self._rooms)

    @property
    def resident_documents(self) -> int:
        """Documents loaded in memory across all rooms."""
        return sum(len(room.documents) for room in self._rooms.values())

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        await self.storage.open()
        try:
            if self.bus is not None:
                await self.bus.open(self.storage)
            self._server = await serve(
                self._serve_connection,
                self.host,
                self.port,
                process_request=self._authenticate,
                max_size=self.max_message_size,
                # y-sync updates are small and compress poorly; deflate would cost CPU per frame.
                compression=None,
                ping_interval=self.ping_interval,
                logger=_QuietHandshakes(logging.getLogger("websockets.server")),
                create_connection=gated_connection_class(self._gate),
            )
        except BaseException:
            if self.bus is not None:
                await self.bus.close()
            await self.storage.close()
            raise
        FastGilSwitching.acquire()
        logger.info("room server listening on %s", self.url)

    async def close(self) -> None:
        """Graceful shutdown: close connections with 1012, unload rooms, flush and close storage."""
        server, self._server = self._server, None
        if server is None:
            return
        FastGilSwitching.release()
        server.close(close_connections=True, code=CloseCode.SERVICE_RESTART, reason="server restart")
        await server.wait_closed()
        for room in self._rooms.values():
            room.close()
        self._rooms.clear()
        self._trimmer.close()
        if self.bus is not None:
            # Committed updates go to the bus once their commit is confirmed: let them out first.
            with contextlib.suppress(MeshError):
                await self.storage.flush()
            await self.bus.close()
        await self.storage.close()

    @property
    def ready(self) -> bool:
        """True while storage (and the bus, if any) can take writes: the load balancer's readiness."""
        return self.storage.available and (self.bus is None or self.bus.available)

    # -- connections ------------------------------------------------------------------------

    def _authenticate(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        target = urlsplit(request.path)
        if target.path in _HEALTH_URLS:
            return self._health(connection, target.path)
        if request.headers.get("Upgrade", "").lower() != "websocket" and (page := web_response(request)):
            return page
        try:
            route = parse_route(target.path)
        except InvalidPathError as exc:
            return _refuse(connection, Refusal(HTTPStatus.NOT_FOUND, exc))
        query = parse_qs(target.query)
        decision = self._admit(route, request.headers, query)
        # Browsers (they send Origin, and must put the token in the URL) and y-websocket read only a
        # close code and reason: they get the upgrade, then a close; other programs get the status.
        by_status = route.document is None and "Origin" not in request.headers and "token" not in query
        if isinstance(decision, Refusal) and by_status:
            return _refuse(connection, decision)
        self._admitted[connection] = decision
        return None

    def _admit(self, route: Route, headers: Headers, query: dict[str, list[str]]) -> _Admission | Refusal:
        origin = headers.get("Origin")
        if origin is not None and self.allowed_origins is not None and origin not in self.allowed_origins:
            error = PermissionDeniedError(
                f"pages from {origin} may not connect",
                hint="start the server with --allowed-origin " + origin,
            )
            return Refusal(HTTPStatus.FORBIDDEN, error)
        raw = _bearer_token(headers.get("Authorization")) or query.get("token", [""])[0]
        try:
            if not raw:
                raise AuthenticationError(
                    "no participant token", hint="send 'Authorization: Bearer <jwt>' (or ?token=<jwt>)"
                )
            token = ParticipantToken.from_jwt(raw, self._keys)
        except AuthenticationError as exc:
            return Refusal(HTTPStatus.UNAUTHORIZED, exc)
        if not token.allows_room(route.room):
            error = PermissionDeniedError(
                f"the token does not grant room {route.room!r}", hint="add a room grant"
            )
            return Refusal(HTTPStatus.FORBIDDEN, error)
        return _Admission(route, token)

    def _health(self, connection: ServerConnection, path: str) -> HttpResponse:
        """Liveness answers while the event loop runs; readiness needs storage and bus connected."""
        report = {
            "live": True,
            "ready": self.ready,
            "storage": self.storage.available,
            "bus": None if self.bus is None else self.bus.available,
        }
        healthy = path.endswith("/live") or self.ready
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        return connection.respond(status, json.dumps(report) + "\n")

    async def _serve_connection(self, connection: ServerConnection) -> None:
        self._gate.opened(connection)
        admission = self._admitted.pop(connection)
        if isinstance(admission, Refusal):
            logger.info("refused a connection (%d): %s", admission.close_code, admission.error)
            await connection.close(admission.close_code, admission.close_reason)
            return
        room_name, token, path = admission.route.room, admission.token, admission.route.document
        room = self._rooms.get(room_name)
        if room is None:
            room = self._rooms[room_name] = Room(
                room_name,
                self.storage,
                self.bus,
                self.document_limits,
                keep_loaded=self.keep_loaded,
                on_empty=self._drop_room,
                trimmer=self._trimmer,
                reads=self._reads,
            )
        room.participants += 1
        handler: _FrameHandler
        yjs: YjsSession | None = None
        if path is None:
            participant = Participant(connection, token, queue_bytes=self.send_queue_bytes)
            handler = Session(room, participant, max_errors=self.max_errors, limits=self.rate_limits)
        else:
            yjs_participant = YjsParticipant(connection, token, queue_bytes=self.send_queue_bytes)
            participant = yjs_participant
            session = Session(room, participant, max_errors=self.max_errors, limits=self.rate_limits)
            handler = yjs = YjsSession(session, yjs_participant, path)
        participant.start()
        expiry = None
        if token.expires_at is not None:
            delay = (token.expires_at - datetime.now(UTC)).total_seconds()
            expiry = asyncio.get_running_loop().call_later(
                max(delay, 0.0), participant.close, CloseCode.TOKEN_EXPIRED, "token expired"
            )
        try:
            if yjs is not None:
                await yjs.open()
            async for frames in receive_batches(connection, max_bytes=_BATCH_BYTES):
                await handler.handle_frames(await handler.pace(frames))
                await self.storage.drain()  # back-pressure: read no more while storage lags
        except ConnectionClosed:
            pass  # the close code says why; nothing is left to do but clean up
        finally:
            if expiry is not None:
                expiry.cancel()
            handler.close()
            await participant.stop()
            room.participants -= 1
            self._drop_room(room)

    def _drop_room(self, room: Room) -> None:
        if room.idle and self._rooms.get(room.name) is room:
            del self._rooms[room.name]


class _QuietHandshakes(logging.LoggerAdapter[logging.Logger]):
    """websockets' server logger, except for handshakes that failed because of the client.

    websockets logs every failed opening handshake as an ERROR with a traceback: a client that closed
    the socket before its request was complete (a health check, a port scan, a client cancelled while
    connecting) and a request it refused itself (plain HTTP gets 426). Nothing is wrong with the server
    then, so those go to DEBUG (the client went away) or INFO (a bad request), without the traceback.
    A handshake that failed inside the server (process_request raised) stays an ERROR. Bearer tokens
    and ``?token=`` values are masked in every record (websockets logs headers at DEBUG).
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        # At DEBUG websockets logs the request line and every header: tokens must not reach the log.
        args = redact_args(args)
        if level >= logging.ERROR and msg == "opening handshake failed":
            # websockets logs this from its except block, so the failure is the exception being handled.
            error = sys.exc_info()[1]
            if error is not None and (quiet := _client_side_level(error)) is not None:
                kwargs.pop("exc_info", None)
                level, msg, args = quiet, "opening handshake failed: %s", (_describe(error),)
        # Not self.process(): that would replace the connection the caller put in ``extra``. One more
        # stack level, so records name websockets' line as their source, not this one.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        self.logger.log(level, msg, *args, **kwargs)


def _client_side_level(error: BaseException) -> int | None:
    """DEBUG for a client that went away, INFO for one that sent no valid handshake, else None."""
    if isinstance(error, (EOFError, ConnectionError)) or isinstance(error.__cause__, EOFError):
        return logging.DEBUG
    if isinstance(error, InvalidHandshake):
        return logging.INFO
    return None


def _describe(error: BaseException) -> str:
    cause = error.__cause__
    return str(error) if cause is None else f"{error} ({cause})"


def _bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _refuse(connection: ServerConnection, refusal: Refusal) -> HttpResponse:
    logger.info("refused a connection (%d): %s", refusal.status, refusal.error)
    return connection.respond(refusal.status, json.dumps(refusal.error.to_dict()) + "\n")
