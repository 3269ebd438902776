"""A clock the tests move forward instead of waiting: installed in place of kyc_gateway.clock by the `clock`
fixture. Time still flows (threads, leases and sleeps behave as they do for real); `advance` jumps ahead; `stop`
holds the wall clock still, for a test of what happens at an exact moment (an age or an expiry reached), and
`skip_sleeps` makes a sleep move the clock instead of waiting."""

from __future__ import annotations

import threading
import time


class FakeClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._stopped_at: float | None = None
        self.slept: list[float] | None = None  # each sleep's length, once sleeps are skipped

    def now(self) -> float:
        with self._lock:
            return (time.time() if self._stopped_at is None else self._stopped_at) + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        if self.slept is None:
            time.sleep(seconds)
        else:
            self.slept.append(seconds)
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def stop(self, at: float = 1_700_000_000.0) -> float:
        """The wall clock stands at `at` (a whole second, so its sums with whole seconds are exact) until
        `advance` moves it; the monotonic clock keeps flowing (budgets, timeouts). Returns `at`."""
        with self._lock:
            self._stopped_at = at - self._offset
        return at

    def skip_sleeps(self) -> list[float]:
        """From now on a sleep moves the clock by its length at once; returns the list of their lengths."""
        self.slept = []
        return self.slept


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
