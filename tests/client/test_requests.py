"""Request/response correlation: ids, result hooks, and failing what is in flight."""

from __future__ import annotations

import asyncio

import pytest

from mesh_tools.client._requests import PendingRequests
from mesh_tools.errors import (
    ConnectionLostError,
    DocumentNotFoundError,
)
from mesh_tools.sync import Response

# -- request correlation -----------------------------------------------------------------------------


async def test_result_hook_runs_before_the_caller_resumes() -> None:
    pending = PendingRequests()
    order: list[str] = []
    first, future = pending.start("sync.open", on_result=lambda result: order.append(f"hook {result}"))
    second, _ = pending.start("sync.list")
    assert second > first
    future.add_done_callback(lambda _: order.append("resumed"))
    assert pending.resolve(Response(first, result={"channel": 3}))
    await asyncio.sleep(0)
    assert order == ["hook {'channel': 3}", "resumed"]
    assert future.result() == {"channel": 3}
    assert not pending.resolve(Response(first, result={})), "an id is answered once"


async def test_errors_and_disconnects_fail_their_requests() -> None:
    pending = PendingRequests()
    refused, refused_future = pending.start("sync.open")
    _, lost_future = pending.start("sync.flush")
    pending.resolve(Response(refused, error=DocumentNotFoundError("no such document")))
    pending.fail_all(lambda kind: ConnectionLostError(f"lost during {kind}"))
    with pytest.raises(DocumentNotFoundError):
        refused_future.result()
    with pytest.raises(ConnectionLostError, match=r"lost during sync\.flush"):
        lost_future.result()
    assert len(pending) == 0


async def test_discarded_request_ignores_its_late_answer() -> None:
    pending = PendingRequests()
    request_id, future = pending.start("sync.list")
    pending.discard(request_id)
    assert not pending.resolve(Response(request_id, result={}))
    assert not future.done()
