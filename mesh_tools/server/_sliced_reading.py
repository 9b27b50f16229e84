"""Read a connection's bytes in slices, so one fast sender cannot hold the event loop.

websockets parses every frame of the bytes the transport hands it in one callback, and asyncio hands
over up to 256 KiB at a time: from a client flooding small frames (awareness) that is ~3,500 frames,
~50-100 ms of parsing during which no other connection is served. Here the bytes beyond one slice wait
for later turns of the event loop with the socket paused, and they wait too while websockets' own queue
of parsed frames is full (the session paces a sender by not reading its frames), so TCP pushes back on
the sender. The order of the bytes, and hence of frames, is unchanged; nothing is dropped.

A big frame arrives over hundreds of slices into websockets' buffer, and websockets then copied its
payload out of that buffer (and unmasked the copy into another): two fresh multi-megabyte buffers in one
turn of the event loop, each faulted in page by page with the GIL held, 5-7 ms per 8 MiB on this VM.
The reader here hands a big payload's buffer over instead, copying only the bytes after it (at most a
slice), so the turn that completes an 8 MiB frame makes one buffer, not two
(docs/adr/0017-big-frames-off-the-event-loop.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator

from websockets.asyncio.server import ServerConnection
from websockets.streams import StreamReader

__all__ = ["SLICE_BYTES", "SlicedReadingConnection"]

#: Bytes parsed per turn of the event loop (~200 awareness frames, a few milliseconds).
SLICE_BYTES = 16 * 2**10
#: Payloads from this size on are handed over from websockets' buffer rather than copied out of it.
_HANDED_OVER_BYTES = 1 << 20


class _HandingOverReader(StreamReader):
    """websockets' reader, handing a big read's bytes over: the buffer itself, cut where the read ends."""

    def read_exact(self, n: int) -> Generator[None, None, bytearray]:
        if n < _HANDED_OVER_BYTES:
            return (yield from super().read_exact(n))
        while len(self.buffer) < n and not self.eof:
            yield
        if len(self.buffer) < n:  # the stream ended first: websockets' own error
            return (yield from super().read_exact(n))
        data, self.buffer = self.buffer, self.buffer[n:]
        del data[n:]
        return data


class SlicedReadingConnection(ServerConnection):
    """A ServerConnection that feeds websockets at most :data:`SLICE_BYTES` per event-loop turn."""

    #: Bytes received and not yet parsed; None when nothing waits (the common case).
    _backlog: bytearray | None = None
    #: websockets' queue of parsed frames is full: parse nothing more until it drains.
    _held = False
    _scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # The instance stays (the handshake's parser holds its methods); only how it reads changes.
        self.protocol.reader.__class__ = _HandingOverReader
        # websockets pauses and resumes the socket around its frame queue; the backlog must pause too.
        self.recv_messages.pause = self._hold
        self.recv_messages.resume = self._release

    def data_received(self, data: bytes) -> None:
        if self._backlog is not None:  # bytes a resumed socket delivered behind the backlog
            self._backlog += data
            self.transport.pause_reading()
            return
        if len(data) > SLICE_BYTES:
            self._backlog = bytearray(memoryview(data)[SLICE_BYTES:])
            self.transport.pause_reading()
            self._schedule()
            data = data[:SLICE_BYTES]
        super().data_received(data)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._read_backlog)

    def _read_backlog(self) -> None:
        self._scheduled = False
        backlog = self._backlog
        if backlog is None or self._held:  # ended meanwhile, or _release schedules the rest
            return
        piece = bytes(backlog[:SLICE_BYTES])
        del backlog[:SLICE_BYTES]
        if backlog:
            self._schedule()
        else:
            self._backlog = None
            self.transport.resume_reading()
        super().data_received(piece)

    def _hold(self) -> None:
        self._held = True
        self.transport.pause_reading()

    def _release(self) -> None:
        self._held = False
        if self._backlog is not None:
            self._schedule()
        else:
            self.transport.resume_reading()

    def _flush_backlog(self) -> None:
        # The stream ends: what arrived before its end is parsed before the end is.
        backlog, self._backlog = self._backlog, None
        if backlog:
            super().data_received(bytes(backlog))

    def eof_received(self) -> None:
        self._flush_backlog()
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._flush_backlog()
        super().connection_lost(exc)
