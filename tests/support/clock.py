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


class StoppedClock(FakeClock):
    """A clock that moves only when told: `advance`, or the gateway sleeping, which takes no time and is recorded
    in `slept` (backoffs and Retry-After waits can be read, and budgets spent, without waiting). Its monotonic time
    starts at 0, as a freshly booted Lambda's nearly does."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = time.time()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._epoch + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return self._offset

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
