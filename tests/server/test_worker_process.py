"""The worker process: big pure-CPU work (snapshots of big logs) runs outside the server's GIL."""

from __future__ import annotations

import hashlib
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, XmlElement, XmlFragment

from mesh_tools.server._snapshots import _OWN_PROCESS_BYTES, _compact, compact_updates
from mesh_tools.server._worker_process import run_in_worker_process


def _pid(_: tuple[bytes, ...]) -> bytes:
    return str(os.getpid()).encode()


def _policy(_: tuple[bytes, ...]) -> bytes:
    return str(os.sched_getscheduler(0)).encode()


def _fail(_: tuple[bytes, ...]) -> bytes:
    raise ValueError("not an update")


def _run_script(script: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a new interpreter that can import this repository's tests."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_work_runs_in_another_process_which_serves_the_next_call_too() -> None:
    first = run_in_worker_process(_pid, ())
    assert int(first) != os.getpid()
    assert run_in_worker_process(_pid, ()) == first


def test_an_error_of_the_work_reaches_the_caller() -> None:
    try:
        run_in_worker_process(_fail, ())
    except ValueError as exc:
        assert "not an update" in str(exc)
    else:
        raise AssertionError("the error was lost")


def test_a_killed_worker_process_is_replaced_and_no_work_is_lost() -> None:
    worker = int(run_in_worker_process(_pid, ()))
    os.kill(worker, signal.SIGKILL)
    # The call that finds it dead does the work in this process; the next one starts a new process.
    assert int(run_in_worker_process(_pid, ())) != worker
    replacement = int(run_in_worker_process(_pid, ()))
    assert replacement not in {worker, os.getpid()}


def test_a_script_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path: Path) -> None:
    # multiprocessing's spawned children import the parent's __main__: this script would start twice.
    script = tmp_path / "user_script.py"
    script.write_text(
        "print('started', flush=True)\n"
        "from mesh_tools.server._worker_process import run_in_worker_process\n"
        "from tests.server.test_worker_process import _pid\n"
        "import os\n"
        "print(int(run_in_worker_process(_pid, ())) != os.getpid())\n"
    )
    done = _run_script(script)
    assert done.stdout.split() == ["started", "True"], done.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="scheduling policies are Linux's")
def test_the_worker_process_runs_below_a_real_time_server(tmp_path: Path) -> None:
    # A server started with chrt: its worker process takes the normal policy, not a CPU from the server.
    script = tmp_path / "real_time_server.py"
    script.write_text(
        "import os, sys\n"
        "try:\n"
        "    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))\n"
        "except PermissionError:\n"
        "    sys.exit(3)\n"
        "from mesh_tools.server._worker_process import run_in_worker_process\n"
        "from tests.server.test_worker_process import _policy\n"
        "print(os.sched_getscheduler(0), int(run_in_worker_process(_policy, ())))\n"
    )
    done = _run_script(script)
    if done.returncode == 3:
        pytest.skip("this user may not set a real-time scheduling policy")
    assert done.stdout.split() == [str(os.SCHED_FIFO), str(os.SCHED_OTHER)], done.stderr


def test_a_big_log_is_folded_in_the_worker_process_exactly_as_in_this_one() -> None:
    doc: Doc = Doc()
    body = doc.get("mesh", type=XmlFragment)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    while sum(map(len, updates)) < _OWN_PROCESS_BYTES:
        body.children.append(XmlElement("p", {"text": "x" * 200}))
        body.children[0].attributes["text"] = "overwritten " * 20
    assert compact_updates(*updates) == _compact(tuple(updates))


def _lengths(arguments: tuple[bytes, ...]) -> bytes:
    return b",".join(str(len(argument)).encode() + b":" + argument.hex().encode() for argument in arguments)


@settings(max_examples=25)
@given(st.lists(st.binary(max_size=300), max_size=40).map(tuple))
def test_arguments_reach_the_worker_process_whole_and_in_order(arguments: tuple[bytes, ...]) -> None:
    # All the arguments travel in one message (a message each handed the GIL over once per argument).
    assert run_in_worker_process(_lengths, arguments) == _lengths(arguments)


def _digest(arguments: tuple[bytes, ...]) -> bytes:
    return hashlib.sha256(
        b"".join(struct.pack(">Q", len(argument)) + argument for argument in arguments)
    ).digest()


def test_more_arguments_than_one_system_call_writes_and_big_ones_arrive_whole() -> None:
    # Written as they are, without joining: more buffers than writev takes at once, empty ones, and
    # some bigger than the pipe holds, so the writes stop and resume inside them.
    arguments = (*(os.urandom(i % 7) for i in range(3_000)), os.urandom(3 * 2**20), b"", b"end")
    assert run_in_worker_process(_digest, arguments) == _digest(arguments)
