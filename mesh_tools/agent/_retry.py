"""When and how long to retry a model request.

The loop builds its OpenAI client with ``max_retries=0`` so that this policy alone decides: rate limits
(429), server errors (5xx), request timeouts (408 and client-side) and connection failures are retried
with exponential backoff and jitter, waiting exactly as long as a ``retry-after`` header asks.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

__all__ = ["RetryPolicy"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry settings for model requests."""

    max_attempts: int = 6
    """Attempts per model turn, the first one included."""
    initial_wait_s: float = 0.5
    """Scale of the exponential backoff used when the server gives no ``retry-after``."""
    max_wait_s: float = 30.0
    """Longest backoff; a ``retry-after`` longer than this is not waited for and the error is raised."""

    def retrying(self, on_wait: Callable[[float], None] | None = None) -> AsyncRetrying:
        """A tenacity controller that applies this policy; iterate it around one request.

        ``on_wait`` is told each delay before it is waited, so callers can record time lost to retries.
        """

        def before_sleep(state: RetryCallState) -> None:
            delay = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            _log.warning(
                "model request failed (attempt %d: %s); retrying in %.2fs", state.attempt_number, error, delay
            )
            if on_wait is not None:
                on_wait(delay)

        return AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _is_retryable(self, error: BaseException) -> bool:
        if isinstance(error, openai.APIConnectionError):
            return True  # includes APITimeoutError
        if not isinstance(error, openai.APIStatusError):
            return False
        if error.code == "insufficient_quota":
            return False  # a 429 that waiting cannot fix
        delay = _retry_after_s(error)
        if delay is not None and delay > self.max_wait_s:
            return False
        return error.status_code in (408, 429) or error.status_code >= 500

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, openai.APIStatusError):
            delay = _retry_after_s(error)
            if delay is not None:
                return max(delay, 0.0)
        backoff = wait_random_exponential(multiplier=self.initial_wait_s, max=self.max_wait_s)
        return float(backoff(state))


def _retry_after_s(error: openai.APIStatusError) -> float | None:
    """The delay the server asked for, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    headers = error.response.headers
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        with contextlib.suppress(ValueError):
            return _finite(float(milliseconds) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return _finite(float(value))
    moment = email.utils.parsedate_tz(value)
    return None if moment is None else email.utils.mktime_tz(moment) - time.time()


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None
