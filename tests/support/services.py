"""Throwaway Redis and PostgreSQL on loopback for the multi-node tests, through scripts/throwaway-service.sh.

Each service lives in a temporary directory on a free port for the whole test session. Without the
engines installed the cluster tests are skipped, except with CI=true, where they fail: CI installs them
(scripts/deps-cluster-services.sh) and must run these tests.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "throwaway-service.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def require_engine(kind: str) -> None:
    """Skip (fail under CI=true) when the engine behind ``kind`` is not installed."""
    installed = (
        shutil.which("redis-server") if kind == "redis" else glob.glob("/usr/lib/postgresql/*/bin/initdb")
    )
    if installed:
        return
    message = f"{kind} is not installed: run scripts/deps-cluster-services.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class ThrowawayService:
    """One engine instance; ``restart()`` keeps its port (and, for PostgreSQL, its data)."""

    kind: str
    directory: Path
    port: int

    @classmethod
    def start_new(cls, kind: str) -> ThrowawayService:
        require_engine(kind)
        # Its own mkdtemp directory: as root, PostgreSQL's files belong to the postgres user, who must
        # be able to reach them.
        service = cls(kind, Path(tempfile.mkdtemp(prefix=f"mesh-{kind}-")), free_port())
        service.start()
        return service

    @property
    def url(self) -> str:
        if self.kind == "redis":
            return f"redis://127.0.0.1:{self.port}/0"
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run([SCRIPT, self.kind, "start", self.directory, str(self.port)], check=True)

    def stop(self) -> None:
        subprocess.run([SCRIPT, self.kind, "stop", self.directory], check=True)

    def pid(self) -> int:
        """The server's process id (for PostgreSQL, the postmaster)."""
        pid_file = self.directory / ("redis.pid" if self.kind == "redis" else "data/postmaster.pid")
        return int(pid_file.read_text().split()[0])

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def isolated_postgres_url(service: ThrowawayService) -> str:
    """A URL whose tables live in a fresh PostgreSQL schema, so each test starts from empty storage."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(service.url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return f"{service.url}?options=-csearch_path%3D{schema}"


def flush_redis(service: ThrowawayService) -> None:
    import redis

    with redis.Redis.from_url(service.url) as client:
        client.flushall()
