"""Python child processes for tests: a script run to completion, and `mesh-tools serve` to kill."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "ServeProcess", "run_process"]


@dataclass
class Run:
    code: int
    out: str
    err: str


async def run_process(*args: str, env: dict[str, str]) -> Run:
    """Run ``python *args`` to completion with extra environment variables, without blocking the loop."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


class ServeProcess:
    """``mesh-tools serve`` in a subprocess, for tests that kill or restart a real server process."""

    def __init__(
        self, data_dir: Path, *, env: dict[str, str], port: int = 0, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.args = list(args)
        self.port = port
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ServeProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> str:
        """Start (again, on the same port once one was picked) and return the server's URL."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mesh_tools",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        async with asyncio.timeout(20):
            self.url = (await self._process.stdout.readline()).decode().strip()
        assert self.url.startswith("ws://"), f"mesh-tools serve printed {self.url!r}"
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
        if self._process is not None:
            await self._process.wait()
