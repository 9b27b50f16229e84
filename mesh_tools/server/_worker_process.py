"""Pure CPU work too big to hold the GIL for, in a process of its own.

pycrdt's calls hold the GIL from start to end: folding a 60k-element document's log into a snapshot
(``merge_updates``, applying to a fresh ``Doc``, encoding it) took 420 ms, during which no thread of the
server, the event loop included, ran at all; a worker thread does not help there. Work on bytes that
only returns bytes can run in another process instead, for the price of copying them through a pipe
(milliseconds for megabytes).

The process runs this module's :func:`main`, started on first use and kept for the
server's lifetime; it ends when its pipe closes (the server exited or was killed). Not a
``multiprocessing`` pool: its spawned children import the parent's ``__main__``, which re-runs a user's
script that starts a server without an ``if __name__ == "__main__"`` guard. If the process dies
(killed for memory), the work is done in the server's process, and the next call starts another.

Requests and answers are ``multiprocessing.connection`` messages: the function's
``module:qualified name``, then the arguments in one message (their number and lengths, then their bytes
end to end); then ``ok`` or ``error`` and the result or the error's text. One message for all the
arguments, because each message is a system call, and each system call may hand the GIL to a busy event
loop and wait a switch interval to get it back: a log of 1,000 updates sent one message each waited
seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

__all__ = ["main", "run_in_worker_process", "start_worker_process"]

logger = logging.getLogger(__name__)

Work = Callable[[tuple[bytes, ...]], bytes]
#: Bytes a pipe to or from the worker holds (Linux's default is 64 KiB; 1 MiB is what an unprivileged
#: process may ask for by default): an 8 MiB update crosses in 8 writes instead of 128, and each write
#: is a system call after which the calling thread takes the GIL back from the event loop.
_PIPE_BYTES = 1 << 20
_OK = b"ok"
#: The biggest size ``multiprocessing.connection`` frames in 32 bits, and the most buffers one writev takes.
_FRAMED_SIZE_MAX = 0x7FFFFFFF
_IOV_MAX = os.sysconf("SC_IOV_MAX")
_ERROR = b"error"


class _Worker:
    """The running worker process and the two pipes to it."""

    def __init__(self) -> None:
        to_child, requests = os.pipe()
        answers, from_child = os.pipe()
        for pipe in (requests, from_child):
            with contextlib.suppress(OSError, AttributeError):  # a smaller limit, or not Linux
                fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        # The child imports what the parent can (a test module's function, say).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        command = [sys.executable, "-c", f"from {__name__} import main; main()"]
        self.process = subprocess.Popen(command, stdin=to_child, stdout=from_child, env=env)
        os.close(to_child)
        os.close(from_child)
        self.requests = Connection(requests, readable=False)
        self.answers = Connection(answers, writable=False)

    def run(self, function: Work, arguments: tuple[bytes, ...]) -> bytes:
        self.requests.send_bytes(f"{function.__module__}:{function.__qualname__}".encode())
        _send_parts(self.requests, (_lengths(arguments), *arguments))
        status, answer = self.answers.recv_bytes(), self.answers.recv_bytes()
        if status == _ERROR:
            raise ValueError(answer.decode())
        return answer

    def close(self) -> None:
        self.requests.close()
        self.answers.close()
        self.process.kill()
        self.process.wait()


_lock = threading.Lock()
_worker: _Worker | None = None


@atexit.register
def _stop() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


def start_worker_process() -> None:
    """Start the worker process now if it is not running, without waiting for it to be ready.

    Its imports (the whole package) take a second of CPU or more on a loaded machine: started by the
    first piece of work, that work waited for them, and the server's threads shared the CPU with them
    while the server was busy. Storage backends start it when they open.
    """
    global _worker
    with _lock:
        if _worker is None:
            try:
                _worker = _Worker()
            except OSError as exc:  # the work will run in this process, as when the worker dies
                logger.warning("cannot start the worker process (%s)", exc)


def run_in_worker_process(function: Work, arguments: tuple[bytes, ...]) -> bytes:
    """``function(arguments)`` in the worker process, blocking the calling thread (never the event loop's).

    ``function`` must be a module-level function. An error it raises comes back as ValueError with
    its text. If the process cannot be started or dies, the work runs in this process instead: slower
    for the others, but nothing is lost.
    """
    global _worker
    with _lock:  # one request at a time on the pipes
        try:
            if _worker is None:
                _worker = _Worker()
            return _worker.run(function, arguments)
        except (EOFError, OSError) as exc:
            logger.warning("the worker process failed (%s); doing the work in the server's process", exc)
            if _worker is not None:
                _worker.close()
                _worker = None
    return function(arguments)


def _serve(requests: Connection, answers: Connection) -> None:
    """The worker process's loop: run each request, answer, until the server closes the pipe."""
    while True:
        try:
            name = requests.recv_bytes().decode()
        except EOFError:
            return
        arguments = _unpack(requests.recv_bytes())
        module, _, qualified_name = name.partition(":")
        try:
            result = getattr(importlib.import_module(module), qualified_name)(arguments)
        except Exception as exc:
            answers.send_bytes(_ERROR)
            answers.send_bytes(f"{type(exc).__name__}: {exc}".encode())
        else:
            answers.send_bytes(_OK)
            answers.send_bytes(result)


def _lengths(arguments: tuple[bytes, ...]) -> bytes:
    return struct.pack(f">I{len(arguments)}Q", len(arguments), *map(len, arguments))


def _send_parts(connection: Connection, parts: tuple[bytes, ...]) -> None:
    """``connection.send_bytes(b"".join(parts))`` without the join: the parts are written as they are
    (``writev``). Joining an 8 MiB update into the request was one more fresh 8 MiB buffer, faulted in
    with the GIL held (docs/adr/0017-big-frames-off-the-event-loop.md). The framing is
    ``multiprocessing.connection``'s, which the worker reads with ``recv_bytes``: the size as a signed
    32-bit big-endian integer, or -1 and the size as 64 bits when it does not fit."""
    size = sum(map(len, parts))
    header = struct.pack(">i", size) if size <= _FRAMED_SIZE_MAX else struct.pack(">iQ", -1, size)
    views = [memoryview(part) for part in (header, *parts) if part]
    handle = connection.fileno()
    while views:
        written = os.writev(handle, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


def _unpack(message: bytes) -> tuple[bytes, ...]:
    (count,) = struct.unpack_from(">I", message)
    start = 4 + 8 * count
    arguments: list[bytes] = []
    for length in struct.unpack_from(f">{count}Q", message, 4):
        arguments.append(message[start : start + length])
        start += length
    return tuple(arguments)


def _run_below_the_server() -> None:
    """Leave a real-time scheduling policy inherited from the server (``chrt``) for the normal one.

    The server is run real-time so its event loop gets a CPU the moment it wakes; this process's work
    is seconds of CPU at a time (a big describe, a fold), and at the same real-time priority it kept a
    CPU from the server until done: on two cores, with a big reader's client busy on the other, every
    room stalled for 100 ms and more (bench/isolation.py). Under the normal policy nothing changes.
    """
    if sys.platform == "linux" and os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def main() -> None:
    """The worker process: requests on stdin, answers on stdout; anything printed goes to stderr."""
    _run_below_the_server()
    answer_pipe = os.dup(1)
    os.dup2(2, 1)
    _serve(Connection(os.dup(0), writable=False), Connection(answer_pipe, readable=False))
