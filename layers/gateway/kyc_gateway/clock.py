"""The gateway's clock: wall time for token lifetimes, monotonic time for budgets, sleeping, and the deadline of
the request in flight.

One indirection, looked up at each call, so tests can move time instead of waiting for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

# Time kept back from the Lambda's remaining time to write the answer, its log line and its metrics.
ANSWER_MARGIN_SECONDS = 1.5


class _Request(threading.local):
    deadline: float | None = None


_request = _Request()


def now() -> float:
    """Seconds since the epoch (token expiry times are shared between instances)."""
    return time.time()


def monotonic() -> float:
    """Seconds on a clock that never goes back (budgets, circuit cool-downs)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def start_request(context: Any) -> None:
    """The request in flight on this thread must be answered before the Lambda's timeout: every provider call
    after this, retries included, fits in what is left (several calls in one request share it)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    _request.deadline = monotonic() + remaining() / 1000 - ANSWER_MARGIN_SECONDS if callable(remaining) else None


def time_left() -> float | None:
    """Seconds left before the request's deadline; None outside a request."""
    return None if _request.deadline is None else _request.deadline - monotonic()
