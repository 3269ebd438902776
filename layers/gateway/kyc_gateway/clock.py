"""The gateway's clock: wall time for token lifetimes, monotonic time for budgets, and sleeping.

One indirection, looked up at each call, so tests can move time instead of waiting for it.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch (token expiry times are shared between instances)."""
    return time.time()


def monotonic() -> float:
    """Seconds on a clock that never goes back (budgets, circuit cool-downs)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    time.sleep(seconds)
