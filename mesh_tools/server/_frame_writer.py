"""Sending several WebSocket messages to one connection with one write to its socket.

websockets' ``send`` writes each message with its own ``transport.write``; with the socket's buffer
empty, as it is for a reader that keeps up, that is one ``send()`` system call per frame. Under fan-out
those calls were about a quarter of the server's time. A participant's sender takes every frame queued
for it since its last turn and hands them here: each becomes its own WebSocket message (text or
binary, as before), in order, and all of them leave in one write.
"""

from __future__ import annotations

from collections.abc import Sequence

from websockets.asyncio.connection import Connection

__all__ = ["send_frames"]


async def send_frames(connection: Connection, frames: Sequence[str | bytes]) -> None:
    """Send each frame as one message, in order; waits while the connection's write buffer is full.

    Raises ``ConnectionClosed`` like ``Connection.send`` when the connection is closed.
    """
    # send_context checks the connection is open, then writes whatever is still pending and waits for
    # the buffer to drain (flow control), exactly as for ``send``; only the write itself is joined here.
    async with connection.send_context():
        protocol = connection.protocol
        for frame in frames:
            if isinstance(frame, str):
                protocol.send_text(frame.encode())
            else:
                protocol.send_binary(frame)
        # send_text/send_binary only append serialized frames (never the EOF marker, an empty chunk).
        connection.transport.write(b"".join(protocol.data_to_send()))
