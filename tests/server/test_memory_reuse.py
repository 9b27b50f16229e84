"""The server process's heap policy: big buffers freed stay resident for reuse, until a trim."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mesh_tools.server._memory import _malloc_trim, _mallopt

pytestmark = pytest.mark.skipif(
    _mallopt is None or _malloc_trim is None or not sys.platform.startswith("linux"),
    reason="needs glibc's mallopt and malloc_trim, and /proc/self/statm (Linux)",
)

# In a process of its own: the policy is process-wide and cannot be undone.
_PROBE = """
import ctypes, ctypes.util, json, sys
from mesh_tools.server import reuse_freed_memory

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

reused = reuse_freed_memory() if sys.argv[1] == "reuse" else None
before = resident()
buffer = b"x" * (16 * 2**20)  # written, so every page is in
written = resident()
del buffer
freed = resident()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
print(json.dumps({"reused": reused, "before": before, "written": written, "freed": freed,
                  "trimmed": resident()}))
"""


def _run(policy: str) -> dict[str, int]:
    output = subprocess.run(
        [sys.executable, "-c", _PROBE, policy], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, int] = json.loads(output)
    return result


def test_a_freed_big_buffer_stays_resident_for_the_next_until_trimmed() -> None:
    mib = 2**20
    reused = _run("reuse")
    assert reused["reused"] is True
    assert reused["written"] - reused["before"] >= 15 * mib
    # Kept: the next big buffer is written into pages already in, not faulted in afresh.
    assert reused["freed"] - reused["before"] >= 15 * mib
    # The trimmer (after unloads) still hands it back.
    assert reused["trimmed"] - reused["before"] < 4 * mib


def test_by_default_a_freed_big_buffer_is_unmapped_at_once() -> None:
    # The reference: without the policy, every big buffer is a fresh mapping, faulted in page by page.
    default = _run("default")
    assert default["written"] - default["before"] >= 15 * 2**20
    assert default["freed"] - default["before"] < 4 * 2**20
