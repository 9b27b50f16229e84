"""Fixtures of the multi-node tests: room server nodes on one PostgreSQL and one Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from mesh_tools.server import PostgresStorage, RedisBus, RoomServer

NodeFactory = Callable[[], contextlib.AbstractAsyncContextManager[RoomServer]]


@pytest.fixture
def node(postgres_url: str, redis_url: str, secret: str) -> NodeFactory:
    """Starts room server nodes on the test's PostgreSQL schema and Redis."""

    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[RoomServer]:
        server = RoomServer(storage=PostgresStorage(postgres_url), bus=RedisBus(redis_url), secret=secret)
        async with server:
            yield server

    return start
