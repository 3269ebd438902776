"""A child process's output, read by a thread of its own: waiting for a line has a deadline even when the child
prints nothing (a blocking readline would hang the suite), and a full pipe never blocks the child."""

from __future__ import annotations

import queue
import threading
import time
from typing import IO


class Output:
    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        except (OSError, ValueError):
            pass  # the test closed the stream once done with the process
        self._lines.put(None)  # the stream ended

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line containing `text`; fails with what was printed before if it does not come in time."""
        deadline, seen = time.monotonic() + timeout, []
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout} s; printed: {''.join(seen)!r}") from None
            if line is None:
                raise AssertionError(f"the output ended without a line with {text!r}; printed: {''.join(seen)!r}")
            if text in line:
                return line
            seen.append(line)
