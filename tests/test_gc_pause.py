"""gc_paused: pauses nest across threads, and a collector disabled before stays disabled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from mesh_tools._gc_pause import gc_paused


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_resumes_only_when_the_last_pause_on_any_thread_ends() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def worker() -> None:
        with gc_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    with gc_paused():
        assert not gc.isenabled()
    # The worker's pause outlives this thread's: the collector must stay off until it ends too.
    assert not gc.isenabled()
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_before_the_pause_stays_disabled() -> None:
    gc.disable()
    with gc_paused(), gc_paused():
        pass
    assert not gc.isenabled()


def test_the_pause_ends_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
