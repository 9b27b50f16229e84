"""Session-wide fixtures: throwaway Redis and PostgreSQL for the multi-node tests (cluster_services.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster_services import ThrowawayService, flush_redis, isolated_postgres_url


@pytest.fixture(scope="session")
def redis_service() -> Iterator[ThrowawayService]:
    service = ThrowawayService.start_new("redis")
    yield service
    service.remove()


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[ThrowawayService]:
    service = ThrowawayService.start_new("postgres")
    yield service
    service.remove()


@pytest.fixture
def postgres_url(postgres_service: ThrowawayService) -> str:
    """A connection URL to empty storage: a schema of its own on the session's PostgreSQL."""
    return isolated_postgres_url(postgres_service)


@pytest.fixture
def redis_url(redis_service: ThrowawayService) -> str:
    """The session's Redis, emptied for this test."""
    flush_redis(redis_service)
    return redis_service.url
