"""Waiting for a condition that other tasks bring about, with a failure that says what never happened."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["wait_until"]


async def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 20.0) -> None:
    """Poll until ``condition()`` holds; after ``timeout`` s fail naming ``what`` was awaited.

    The ceiling is generous: it only turns a hang into a failure that says what never happened.
    """
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting until {what}") from None
