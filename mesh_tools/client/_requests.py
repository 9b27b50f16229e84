"""Request/response correlation: ids, one future per request, and failing them all when the link drops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import MeshError
from ..sync import Response

__all__ = ["PendingRequests", "ResultHook"]

#: Runs synchronously when a result is read, before the next frame is handled.
ResultHook: TypeAlias = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class _Pending:
    type: str
    future: asyncio.Future[dict[str, Any]]
    on_result: ResultHook | None


class PendingRequests:
    """The requests of one client that await their answer.

    Ids grow across connections, so a late answer from a previous connection can never be taken for
    the answer to a new request.
    """

    def __init__(self) -> None:
        self._next_id = 1
        self._waiting: dict[int, _Pending] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def start(
        self, request_type: str, on_result: ResultHook | None = None
    ) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        """Allocate an id and the future its answer resolves."""
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        # A caller cancelled at the moment its answer failed never reads the error; don't log it as lost.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._waiting[request_id] = _Pending(request_type, future, on_result)
        return request_id, future

    def discard(self, request_id: int) -> None:
        """Forget a request whose caller stopped waiting; a late answer is then ignored."""
        self._waiting.pop(request_id, None)

    def resolve(self, response: Response) -> bool:
        """Hand an answer to its request; False if no request with that id is waiting.

        The result hook runs before the future resolves, so whatever it registers is in place for
        the frames that follow this answer on the wire. An exception from the hook fails the request.
        """
        pending = self._waiting.pop(response.id, None)
        if pending is None or pending.future.done():
            return False
        if response.error is not None:
            pending.future.set_exception(response.error)
        else:
            result = response.result if response.result is not None else {}
            try:
                if pending.on_result is not None:
                    pending.on_result(result)
            except MeshError as exc:
                pending.future.set_exception(exc)
            else:
                pending.future.set_result(result)
        return True

    def fail_all(self, error: Callable[[str], MeshError]) -> None:
        """Fail every waiting request with ``error(request_type)``."""
        waiting, self._waiting = self._waiting, {}
        for pending in waiting.values():
            if not pending.future.done():
                pending.future.set_exception(error(pending.type))
