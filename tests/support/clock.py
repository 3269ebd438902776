"""A clock the tests move forward instead of waiting: installed in place of kyc_gateway.clock by the `clock`
fixture. Time still flows (threads, leases and sleeps behave as they do for real); `advance` jumps ahead."""

from __future__ import annotations

import threading
import time


class FakeClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
