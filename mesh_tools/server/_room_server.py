"""The room server: authenticated WebSocket connections at ``/rooms/{room}`` speaking docs/protocol.md.

Used embedded (tests, demos) or by ``mesh-tools serve``::

    async with RoomServer(data_dir="data", secret=SECRET) as server:
        print(server.url)  # ws://127.0.0.1:PORT; clients connect to f"{server.url}/rooms/{room}"

Tokens are checked during the HTTP handshake, before any frame: 401 for a missing, malformed, badly
signed, expired or unknown-key token, 403 for a token of another room, 404 for another URL; the body is
the error as JSON (``{"code", "message", "hint"}``). A session outliving its token is closed with 4401.
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
import re
import sys
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from ..errors import AuthenticationError, InvalidPathError, MeshError, PermissionDeniedError
from ..sync import CloseCode
from ..tokens import ParticipantToken
from ._bus import DocumentBus
from ._participant import Participant
from ._paths import check_room_name
from ._room import Room
from ._session import Session
from ._sqlite_storage import SQLiteStorage
from ._storage import Storage

__all__ = ["DATABASE_NAME", "RoomServer"]

logger = logging.getLogger(__name__)

#: File name of the SQLite database inside ``data_dir``.
DATABASE_NAME = "rooms.sqlite3"
_ROOM_URL = re.compile(r"/rooms/(?P<room>[^/]+)/?")
_HEALTH_URLS = ("/healthz", "/healthz/ready", "/healthz/live")


class RoomServer:
    """A WebSocket room server.

    Keys: ``secret`` (one HS256 secret) or ``secrets`` (``{kid: secret}``; the token header's ``kid``
    picks one). Storage: ``data_dir`` for SQLite in ``data_dir/rooms.sqlite3``, or any ``storage``;
    with a ``bus`` too, several servers on one shared storage serve the same rooms.
    Limits: ``max_message_size`` (larger frames close the connection with 1009), ``send_queue_bytes``
    (bytes queued per participant, after merging its pending updates, before it is closed with 1013),
    ``max_errors`` (bad frames in a row before 1008). ``keep_loaded``: seconds a document nobody uses
    stays loaded (0 unloads it at once).
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
        self.ping_interval = ping_interval
        self._server: Server | None = None
        self._rooms: dict[str, Room] = {}
        # Filled by the handshake check, read once by the connection handler.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, tuple[str, ParticipantToken]] = (
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
            )
        except BaseException:
            if self.bus is not None:
                await self.bus.close()
            await self.storage.close()
            raise
        logger.info("room server listening on %s", self.url)

    async def close(self) -> None:
        """Graceful shutdown: close connections with 1012, unload rooms, flush and close storage."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=True, code=CloseCode.SERVICE_RESTART, reason="server restart")
        await server.wait_closed()
        for room in self._rooms.values():
            room.close()
        self._rooms.clear()
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
        match = _ROOM_URL.fullmatch(target.path)
        try:
            if match is None:
                raise InvalidPathError(f"no room at {target.path!r}", hint="connect to /rooms/{room}")
            room = check_room_name(unquote(match["room"]))
        except InvalidPathError as exc:
            return _refuse(connection, HTTPStatus.NOT_FOUND, exc)
        raw = (
            _bearer_token(request.headers.get("Authorization"))
            or parse_qs(target.query).get("token", [""])[0]
        )
        try:
            if not raw:
                raise AuthenticationError(
                    "no participant token", hint="send 'Authorization: Bearer <jwt>' (or ?token=<jwt>)"
                )
            token = ParticipantToken.from_jwt(raw, self._keys)
        except AuthenticationError as exc:
            return _refuse(connection, HTTPStatus.UNAUTHORIZED, exc)
        if not token.allows_room(room):
            error = PermissionDeniedError(f"the token does not grant room {room!r}", hint="add a room grant")
            return _refuse(connection, HTTPStatus.FORBIDDEN, error)
        self._admitted[connection] = (room, token)
        return None

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
        room_name, token = self._admitted.pop(connection)
        room = self._rooms.get(room_name)
        if room is None:
            room = self._rooms[room_name] = Room(
                room_name, self.storage, self.bus, keep_loaded=self.keep_loaded, on_empty=self._drop_room
            )
        room.participants += 1
        participant = Participant(connection, token, queue_bytes=self.send_queue_bytes)
        session = Session(room, participant, max_errors=self.max_errors)
        participant.start()
        expiry = None
        if token.expires_at is not None:
            delay = (token.expires_at - datetime.now(UTC)).total_seconds()
            expiry = asyncio.get_running_loop().call_later(
                max(delay, 0.0), participant.close, CloseCode.TOKEN_EXPIRED, "token expired"
            )
        try:
            async for frame in connection:
                if isinstance(frame, str):
                    await session.handle_text(frame)
                else:
                    session.handle_binary(frame)
                await self.storage.drain()  # back-pressure: read no more while storage lags
        except ConnectionClosed:
            pass  # the close code says why; nothing is left to do but clean up
        finally:
            if expiry is not None:
                expiry.cancel()
            session.close()
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
    A handshake that failed inside the server (process_request raised) stays an ERROR.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
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


def _refuse(connection: ServerConnection, status: HTTPStatus, error: MeshError) -> HttpResponse:
    logger.info("refused a connection (%d): %s", status, error)
    return connection.respond(status, json.dumps(error.to_dict()) + "\n")
