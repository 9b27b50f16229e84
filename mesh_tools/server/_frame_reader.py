"""Reading a connection's messages in batches: every message already received, handled as one turn.

websockets reads the socket in the background and queues the messages it parsed. A server that takes
one message per turn pays its per-message costs (pacing, a transaction, a stored row, a relayed frame
per reader) once per edit; a fast writer's edits then arrive faster than they are handled, pile up in
the socket, and its keepalive pings wait behind them until the client gives up on the connection. So
the server takes, after each message it waited for, every complete message websockets already holds:
a session merges a run of updates among them into one (docs/server.md, Incoming batches).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosedOK

__all__ = ["frames_waiting", "receive_batches"]


async def receive_batches(connection: Connection, *, max_bytes: int) -> AsyncIterator[list[str | bytes]]:
    """Yield the connection's messages in order, in lists of at least one.

    Each list is the message waited for and those received meanwhile, up to ``max_bytes`` (a bigger
    message goes alone). Ends when the connection closes normally, raises ``ConnectionClosedError``
    otherwise, like iterating over the connection.
    """
    # The queue of parsed frames is websockets' (Connection.recv_messages): recv() takes from it without
    # waiting while it holds a complete message, which is the only case this looks at it for.
    frames = connection.recv_messages.frames.queue
    try:
        while True:
            batch = [await connection.recv()]
            size = len(batch[0])
            while frames and frames[0].fin and size + len(frames[0].data) <= max_bytes:
                message = await connection.recv()
                batch.append(message)
                size += len(message)
            yield batch
    except ConnectionClosedOK:
        return


def frames_waiting(connection: Connection) -> bool:
    """Whether websockets holds frames already received from this connection, not yet read."""
    return len(connection.recv_messages.frames) > 0
