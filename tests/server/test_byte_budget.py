"""The byte budget that queues big updates for the worker process: bounded, in order, cancellable."""

from __future__ import annotations

import asyncio

import pytest

from mesh_tools.server._byte_budget import ByteBudget


async def _hold(budget: ByteBudget, size: int, name: str, log: list[str], release: asyncio.Event) -> None:
    async with budget.reserve(size):
        log.append(name)
        await release.wait()


async def test_work_is_admitted_while_it_fits_then_in_arrival_order() -> None:
    budget = ByteBudget(10)
    log: list[str] = []
    releases = {name: asyncio.Event() for name in "abcd"}
    tasks = [
        asyncio.create_task(_hold(budget, size, name, log, releases[name]))
        for name, size in (("a", 6), ("b", 4), ("c", 5), ("d", 1))
    ]
    await asyncio.sleep(0.01)
    # d would fit, but c came first: nothing overtakes the head of the queue.
    assert log == ["a", "b"] and budget.used == 10
    releases["a"].set()
    await asyncio.sleep(0.01)
    assert log == ["a", "b", "c", "d"] and budget.used == 10
    for release in releases.values():
        release.set()
    await asyncio.gather(*tasks)
    assert budget.used == 0


async def test_work_bigger_than_the_budget_runs_alone() -> None:
    budget = ByteBudget(10)
    log: list[str] = []
    first, big = asyncio.Event(), asyncio.Event()
    one = asyncio.create_task(_hold(budget, 3, "small", log, first))
    two = asyncio.create_task(_hold(budget, 50, "big", log, big))
    await asyncio.sleep(0.01)
    assert log == ["small"]
    first.set()
    await asyncio.sleep(0.01)
    assert log == ["small", "big"] and budget.used == 50
    big.set()
    await asyncio.gather(one, two)
    assert budget.used == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_lets_the_next_in() -> None:
    budget = ByteBudget(10)
    log: list[str] = []
    holding, later = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_hold(budget, 8, "first", log, holding))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(_hold(budget, 5, "cancelled", log, later))
    small = asyncio.create_task(_hold(budget, 2, "small", log, later))
    await asyncio.sleep(0.01)
    assert log == ["first"]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.01)
    assert log == ["first", "small"] and budget.used == 10
    holding.set()
    later.set()
    await asyncio.gather(first, small)
    assert budget.used == 0
