"""The y-websocket route: one document per socket, in the framing of stock y-websocket and pycrdt.

It is a translator in front of an ordinary :class:`Session`, so auth, path scopes, schema enforcement,
durability and limits are exactly the multiplexed route's: the socket opens the document with a
``sync.open`` request (creating it from the room's schema if the token may write), then every binary
frame gets the channel prefix the session expects, and the session's output loses it again. What the
multiplexed protocol says in JSON is said the y-protocols way or not at all:

- the open failed: the socket closes with ``4000 + status`` and ``"<code>: <message>"`` (routes.Refusal);
- a write from a read-only participant: the y-protocols permission-denied message, nothing else;
- ``sync.rejected``: nothing; the server's repair arrives as an ordinary update;
- ``sync.closed``: the socket closes with 1011, and y-websocket reconnects;
- other error pushes (malformed frames): nothing, but they count towards ``max_errors`` (1008).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pycrdt import YMessageType
from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from ..errors import PermissionDeniedError, ServerError, error_from_dict
from ..sync import (
    AUTH_MESSAGE,
    Message,
    Push,
    PushType,
    Request,
    RequestType,
    Response,
    encode_binary,
    encode_text,
    permission_denied_message,
    read_var_uint,
)
from ..tokens import ParticipantToken
from ._participant import Participant
from ._routes import Refusal
from ._session import Session

__all__ = ["YjsParticipant", "YjsSession"]

logger = logging.getLogger(__name__)

_OPEN_REQUEST_ID = 0
_AWARENESS = bytes([YMessageType.AWARENESS])


class YjsParticipant(Participant):
    """A participant whose socket carries bare y-messages for the one channel its session opened."""

    def __init__(self, connection: ServerConnection, token: ParticipantToken, *, queue_bytes: int) -> None:
        super().__init__(connection, token, queue_bytes=queue_bytes)
        #: The session's channel for the document, once the open succeeded.
        self.channel: int | None = None

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            return  # JSON reaches this participant only through send_message, translated
        _, offset = read_var_uint(frame, 0, "channel")
        super().send(frame[offset:])

    def send_update(
        self, key: object, update: bytes, frame: bytes, frame_of: Callable[[bytes], bytes]
    ) -> None:
        _, offset = read_var_uint(frame, 0, "channel")
        super().send_update(key, update, frame[offset:], _bare)

    def send_message(self, message: Message) -> None:
        if isinstance(message, Response):
            self._opened(message)
        elif isinstance(message, Push):
            self._pushed(message)

    def _opened(self, response: Response) -> None:
        if response.error is not None:
            refusal = Refusal.of(response.error)
            logger.info("refused a y-websocket participant (%d): %s", refusal.close_code, response.error)
            self.close(refusal.close_code, refusal.close_reason)
        elif response.result is not None:
            self.channel = int(response.result["channel"])

    def _pushed(self, push: Push) -> None:
        error = push.fields.get("error")
        if push.type == PushType.ERROR and isinstance(error, dict):
            if error.get("code") == PermissionDeniedError.code:
                super().send(permission_denied_message(str(error.get("message", "read-only"))))
            else:
                logger.debug("%r sent a bad frame: %s", self, error.get("message"))
        elif push.type == PushType.SYNC_CLOSED:
            reason = error_from_dict(error) if isinstance(error, dict) else ServerError("channel closed")
            self.close(CloseCode.INTERNAL_ERROR, Refusal.of(reason).close_reason)


class YjsSession:
    """Frames of a y-websocket socket, passed to (and from) the session that does the work."""

    def __init__(self, session: Session, participant: YjsParticipant, path: str) -> None:
        self.session = session
        self.participant = participant
        self.path = path

    async def open(self) -> None:
        """Open the document the URL names; on failure the participant is already closing."""
        request = Request(_OPEN_REQUEST_ID, RequestType.SYNC_OPEN, {"path": self.path, "create": True})
        await self.session.handle_text(encode_text(request))

    async def pace(self, frames: Sequence[str | bytes]) -> list[str | bytes]:
        """The session's rate limits, applied to bare y-messages."""
        return await self.session.pace(frames, awareness=_is_awareness)

    async def handle_frames(self, frames: Sequence[str | bytes]) -> None:
        if any(isinstance(frame, str) for frame in frames):
            self.participant.close(
                CloseCode.UNSUPPORTED_DATA, "this route carries binary y-protocols messages only"
            )
        channel = self.participant.channel
        if channel is None:
            return  # not open, and closing
        await self.session.handle_frames(
            [
                encode_binary(channel, frame)
                for frame in frames
                # An auth message only servers send.
                if isinstance(frame, bytes) and frame and frame[0] != AUTH_MESSAGE
            ]
        )

    def close(self) -> None:
        self.session.close()


def _is_awareness(message: bytes) -> bool:
    return message[:1] == _AWARENESS


def _bare(message: bytes) -> bytes:
    """A y-message as this participant's frame: the socket carries no channel prefix."""
    return message
