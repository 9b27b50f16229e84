"""Fixtures of the tool tests: a live room on 127.0.0.1 holding the example schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mesh_tools.server import RoomServer

from .examples import HTML, rich
from .live_room import LiveRoom


@pytest.fixture
async def live_room(tmp_path: Path) -> AsyncIterator[LiveRoom]:
    """A room server whose room has the html and rich schemas (documents ``*.html``, ``*.doc``)."""
    secret = "tools-live-tests-secret-0123456789abcdef"
    async with RoomServer(data_dir=tmp_path / "server", secret=secret) as server:
        room = LiveRoom(server, "tools", secret)
        async with room.participant("setup") as setup:
            await setup.schemas.put("html", HTML)
            await setup.schemas.put("doc", rich())
        yield room
