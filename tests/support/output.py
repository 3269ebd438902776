"""A child process's output, read by a thread of its own: waiting for a line has a deadline even when the child
prints nothing (a blocking readline would hang the suite), and a full pipe never blocks the child."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
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
        seen: list[str] = []
        for line in self._lines_within(timeout, seen, f"no line with {text!r} within {timeout} s"):
            if text in line:
                return line
            seen.append(line)
        raise AssertionError(f"the output ended without a line with {text!r}; printed: {''.join(seen)!r}")

    def wait_for_end(self, timeout: float) -> str:
        """Everything printed until the stream ends; fails with what was printed if it does not end in time."""
        seen: list[str] = []
        for line in self._lines_within(timeout, seen, f"the output did not end within {timeout} s"):
            seen.append(line)
        return "".join(seen)

    def _lines_within(self, timeout: float, seen: list[str], late: str) -> Iterator[str]:
        """The lines printed until the stream ends; AssertionError(`late`, with `seen`) when the next one is late."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"{late}; printed: {''.join(seen)!r}") from None
            if line is None:
                return
            yield line
