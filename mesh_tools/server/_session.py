"""One participant's session in a room: its requests, its channels and their binary sync frames.

Frames are handled in arrival order: a binary update is applied before any frame after it, so a
``sync.flush`` or ``sync.close`` that follows it waits for it to be durable (docs/protocol.md). Frames
read together come as one batch, and a run of updates for one channel among them is applied as one
(docs/server.md, Incoming batches).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pycrdt import YMessageType, YSyncMessageType
from websockets.protocol import State

from ..errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    MeshError,
    PermissionDeniedError,
    ProtocolError,
    RemoteProtocolError,
    ServerError,
)
from ..schema import MeshSchema
from ..sync import (
    FIRST_CHANNEL,
    CloseCode,
    CreateResult,
    ErrorPush,
    ListResult,
    OpenResult,
    Push,
    PushType,
    Request,
    RequestType,
    Response,
    SchemaListResult,
    SyncResult,
    decode_binary,
    decode_text,
    encode_result_response,
    read_var_uint,
)
from ..tokens import SyncScope
from ._frame_reader import frames_waiting
from ._live_document import SERVER_ORIGIN, Subscriber, violation_bodies
from ._participant import Participant
from ._paths import check_document_path, check_schema_name
from ._rate_limit import RateLimits, TokenBucket
from ._room import Room

__all__ = ["Session"]

logger = logging.getLogger(__name__)

_Handler = Callable[[Request], Awaitable[Mapping[str, Any] | None]]
_SYNC = bytes([YMessageType.SYNC])
_AWARENESS = bytes([YMessageType.AWARENESS])
_UPDATE_KINDS = (bytes([YSyncMessageType.SYNC_STEP2]), bytes([YSyncMessageType.SYNC_UPDATE]))


class Session:
    """Dispatches one connection's frames; ``max_errors`` bad frames in a row close it with 1008."""

    def __init__(
        self, room: Room, participant: Participant, *, max_errors: int = 32, limits: RateLimits | None = None
    ) -> None:
        self.room = room
        self.participant = participant
        self.max_errors = max_errors
        limits = limits or RateLimits()
        self._frames = TokenBucket(limits.frames_per_second, limits.frame_burst)
        self._bytes = TokenBucket(limits.bytes_per_second, limits.byte_burst)
        self._awareness = TokenBucket(limits.awareness_per_second, limits.awareness_burst)
        self._channels: dict[int, Subscriber] = {}
        self._next_channel = FIRST_CHANNEL
        self._errors = 0
        self._handlers: dict[str, _Handler] = {
            RequestType.SYNC_CREATE: self._create,
            RequestType.SYNC_DESCRIBE: self._describe,
            RequestType.SYNC_OPEN: self._open,
            RequestType.SYNC_CLOSE: self._close,
            RequestType.SYNC_FLUSH: self._flush,
            RequestType.SYNC_SYNC: self._sync,
            RequestType.SYNC_LIST: self._list,
            RequestType.SCHEMA_PUT: self._schema_put,
            RequestType.SCHEMA_LIST: self._schema_list,
        }

    # -- frames -----------------------------------------------------------------------------

    async def pace(
        self, frames: Sequence[str | bytes], *, awareness: Callable[[bytes], bool] | None = None
    ) -> list[str | bytes]:
        """Before frames read together are handled: wait as long as this connection is over its rate limits.

        The next frames are read only after these are handled, so the wait slows the sender alone.
        Returns the frames to handle: awareness frames over their own rate are dropped without a word
        (presence is sent again); they still count against the frame and byte rates, so a flood of them
        is slowed like any other. ``awareness`` tells an awareness frame when the caller knows (a bare
        y-message); by default the mesh frame is read.
        """
        is_awareness = awareness or _is_awareness
        kept = [
            frame
            for frame in frames
            if not (isinstance(frame, bytes) and is_awareness(frame)) or self._awareness.try_take(1)
        ]
        if self.participant.connection.state is not State.OPEN:
            # Closing: the rest must drain at once, or the close handshake waits behind a paced flood.
            return kept
        # A dropped frame counts too: reading and parsing it is what a flood costs the server.
        size = sum(len(frame) for frame in frames)
        delay = max(self._frames.take(len(frames)), self._bytes.take(size))
        # Yield even under the rate while more frames are buffered: they would otherwise run back to
        # back, and a burst of them would hold every other connection meanwhile. Frames that came
        # alone are handled in this turn: reading the next ones yields anyway.
        if delay > 0 or frames_waiting(self.participant.connection):
            await asyncio.sleep(delay)
        return kept

    async def handle_frames(self, frames: Sequence[str | bytes]) -> None:
        """Handle frames read together, in order; a run of updates for one channel is applied as one.

        Merged, the run costs one check, one transaction, one stored row and one frame per reader
        instead of one each per edit. If the merged update is refused or unreadable, each frame of the
        run is handled alone, so only the bad one is refused and its sender told, as if sent alone.
        """
        for channel, group in itertools.groupby(frames, _update_channel):
            run = list(group)
            if channel is not None and len(run) > 1:
                await self._handle_updates(channel, [frame for frame in run if isinstance(frame, bytes)])
                continue
            for frame in run:
                if isinstance(frame, str):
                    await self.handle_text(frame)
                else:
                    await self.handle_binary(frame)

    async def handle_text(self, text: str) -> None:
        """Answer one request (exactly once, with a result or a typed error)."""
        try:
            request = decode_text(text)
            if not isinstance(request, Request):
                raise RemoteProtocolError("clients send requests: a JSON object with an 'id' and a 'type'")
        except ProtocolError as exc:
            self._reject(exc, None)
            return
        handler = self._handlers.get(request.type)
        try:
            if handler is None:
                raise RemoteProtocolError(
                    f"unknown request type {request.type!r}", hint=f"known: {', '.join(self._handlers)}"
                )
            result = await handler(request)
        except MeshError as exc:
            self.participant.send_message(Response(request.id, error=exc))
            return
        except Exception:
            logger.exception("request %s failed", request.type)
            error = ServerError(f"{request.type} failed inside the server", hint="see the server log")
            self.participant.send_message(Response(request.id, error=error))
            return
        if result is not None:
            self.participant.send_message(Response(request.id, result=dict(result)))
        self._errors = 0

    async def handle_binary(self, frame: bytes) -> None:
        """Route a sync or awareness frame to its channel's document."""
        channel: int | None = None
        try:
            channel, message = decode_binary(frame)
            closed = self._channels.get(channel)
            if closed is not None and not closed.active:
                # The server closed it and said so (sync.closed): what the client sent meanwhile is moot,
                # and not its fault.
                return
            if closed is None and channel < self._next_channel:
                # A channel this connection opened and closed with sync.close: frames the client sent
                # before the answer reached it (a presence renewal, say) are moot as well.
                return
            subscriber = self._subscriber(channel)
            await subscriber.document.receive(subscriber, message)
        except MeshError as exc:
            self._reject(exc, channel)
            return
        self._errors = 0

    async def _handle_updates(self, channel: int, frames: list[bytes]) -> None:
        """A run of update frames for one channel: applied merged, or one by one if that is refused."""
        try:
            closed = self._channels.get(channel)
            if closed is not None and not closed.active:
                return  # see handle_binary
            subscriber = self._subscriber(channel)
            await subscriber.document.receive_updates(subscriber, [decode_binary(f)[1] for f in frames])
        except MeshError:
            # Nothing was applied: each frame again, alone, names its own fault (or goes through).
            for frame in frames:
                await self.handle_binary(frame)
            return
        self._errors = 0

    def close(self) -> None:
        """Release every channel (the connection is gone)."""
        for subscriber in self._channels.values():
            subscriber.document.unsubscribe(subscriber)
        self._channels.clear()

    def _reject(self, error: MeshError, channel: int | None) -> None:
        push = ErrorPush(error=error.to_dict())
        if channel is not None:
            push["channel"] = channel
        self.participant.send_message(Push(PushType.ERROR, dict(push)))
        self._errors += 1
        if self._errors >= self.max_errors:
            self.participant.close(CloseCode.POLICY_VIOLATION, f"{self._errors} bad frames in a row")

    def _subscriber(self, channel: int) -> Subscriber:
        subscriber = self._channels.get(channel)
        if subscriber is not None and not subscriber.active:
            del self._channels[channel]  # the server closed it (and said so with sync.closed)
            subscriber = None
        if subscriber is None:
            raise RemoteProtocolError(
                f"channel {channel} is not open", hint="open the document with sync.open"
            )
        return subscriber

    # -- permissions ------------------------------------------------------------------------

    def _scope(self, path: str | None, *, write: bool) -> SyncScope:
        scope = self.participant.token.api.sync
        if scope is None:
            raise PermissionDeniedError("this token grants no document access", hint="add an api sync scope")
        if path is not None and not scope.allows_path(path):
            raise PermissionDeniedError(
                f"this token does not grant {path!r}", hint=f"granted paths: {', '.join(scope.paths or ())}"
            )
        if write and scope.read_only:
            raise PermissionDeniedError("this token may only read", hint="ask for a read-write token")
        return scope

    def _path(self, request: Request, *, write: bool) -> str:
        path = check_document_path(request.get("path", str))
        self._scope(path, write=write)
        return path

    # -- requests ---------------------------------------------------------------------------

    async def _create(self, request: Request) -> CreateResult:
        path = self._path(request, write=True)
        data = request.get_optional("json", dict)
        schema_json = request.get_optional("schema", dict)
        schema = None if schema_json is None else MeshSchema.from_json(schema_json)
        await self.room.create(path, data=data, schema=schema)
        return CreateResult(path=path)

    async def _describe(self, request: Request) -> None:
        path = self._path(request, write=False)
        live = await self.room.acquire(path, describing=True)
        try:
            # Encoded once per document version, off the event loop when big (LiveDocument.describe).
            result = await live.describe()
        finally:
            live.release()
        self.participant.send(encode_result_response(request.id, result))

    async def _open(self, request: Request) -> None:
        path = self._path(request, write=False)
        create = request.get_optional("create", bool)
        try:
            live = await self.room.acquire(path)
        except DocumentNotFoundError:
            if create is False:
                raise
            self._scope(path, write=True)
            # Another participant may have created it meanwhile: then open theirs.
            with contextlib.suppress(DocumentExistsError):
                await self.room.create(path, data=None, schema=None)
            live = await self.room.acquire(path)
        read_only = self._scope(path, write=False).read_only
        channel = self._next_channel
        self._next_channel += 1
        subscriber = live.subscribe(self.participant, channel, read_only=read_only)
        live.release()  # the subscription holds it now
        self._channels[channel] = subscriber
        # The answer must precede the first frame on the new channel: send it here, then greet.
        result = OpenResult(
            channel=channel,
            schema=live.doc.schema.to_json(),
            epoch=live.epoch,
            # The client turns its replica read-only, so edits fail where they are made, not silently here.
            read_only=read_only,
        )
        self.participant.send_message(Response(request.id, result=dict(result)))
        await live.greet(subscriber)
        return None

    async def _close(self, request: Request) -> dict[str, Any]:
        subscriber = self._subscriber(request.get("channel", int))
        del self._channels[subscriber.channel]
        document = subscriber.document
        pending = document.last_write
        document.unsubscribe(subscriber)
        if pending is not None:
            await pending
        return {}

    async def _flush(self, request: Request) -> dict[str, Any]:
        pending = self._subscriber(request.get("channel", int)).document.last_write
        if pending is not None:
            # Appends may wait a moment to share a commit (SQLiteStorage's commit_interval); a storage
            # flush commits what is queued at once, the document's last append included.
            await self.room.storage.flush()
            await pending
        return {}

    async def _sync(self, request: Request) -> SyncResult:
        path = self._path(request, write=True)
        try:
            update = base64.b64decode(request.get("data", str), validate=True)
        except binascii.Error:
            raise RemoteProtocolError(
                "sync.sync data must be base64", hint="encode the y-update as base64"
            ) from None
        live = await self.room.acquire(path)
        try:
            violations = await live.apply(update, origin=SERVER_ORIGIN)
            pending = live.last_write
        finally:
            live.release()
        if pending is not None:
            await pending
        return SyncResult(violations=violation_bodies(violations))

    async def _list(self, request: Request) -> ListResult:
        scope = self._scope(None, write=False)
        paths = await self.room.storage.list_documents(self.room.name)
        return ListResult(paths=[path for path in paths if scope.allows_path(path)])

    async def _schema_put(self, request: Request) -> dict[str, Any]:
        scope = self._scope(None, write=True)
        if scope.paths is not None and "*" not in scope.paths:
            # A room schema applies to documents outside any path scope; only a room-wide writer sets it.
            raise PermissionDeniedError(
                "schema.put changes the schema of documents anywhere in the room; this token is limited "
                f"to {', '.join(scope.paths)}",
                hint="use a token without path limits, or pass the schema to sync.create instead",
            )
        name = check_schema_name(request.get("name", str))
        schema = MeshSchema.from_json(request.get("schema", dict))
        await self.room.storage.put_schema(self.room.name, name, schema.to_json())
        return {}

    async def _schema_list(self, request: Request) -> SchemaListResult:
        self._scope(None, write=False)
        return SchemaListResult(names=await self.room.storage.list_schemas(self.room.name))


def _update_channel(frame: str | bytes) -> int | None:
    """The channel of a binary frame carrying a sync update (Step2 or Update); None for anything else."""
    if isinstance(frame, str):
        return None
    try:
        channel, offset = read_var_uint(frame, 0, "channel")
    except MeshError:  # handle_binary reports it
        return None
    kind = frame[offset + 1 : offset + 2]
    if frame[offset : offset + 1] == _SYNC and kind in _UPDATE_KINDS:
        return channel
    return None


def _is_awareness(frame: bytes) -> bool:
    try:
        _, offset = read_var_uint(frame, 0, "channel")
        # Only a frame that claims to be awareness is decoded whole: decoding copies the y-message, which
        # for a big update is megabytes on the event loop, every page of them fresh.
        return (
            frame[offset : offset + 1] == _AWARENESS and decode_binary(frame)[1][0] == YMessageType.AWARENESS
        )
    except MeshError:  # handle_binary reports it
        return False
