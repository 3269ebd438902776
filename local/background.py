"""The local stack's threads that feed one function until stopped: an event source's poller (SQS, a DynamoDB
stream) and a schedule. Each runs in a daemon thread named `<kind>-<function>`, so a stop that hangs names it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

from project import template as cfn

Invoker = Callable[[cfn.FunctionSpec, dict[str, Any]], Any]
STOP_WAIT_SECONDS = 5  # how long `stop` waits for a run in progress (a function invocation) to end


class Background:
    kind = "background"

    def __init__(self, function: cfn.FunctionSpec, invoke: Invoker) -> None:
        self.function = function
        self.invoke = invoke
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-{function.logical_id}", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=STOP_WAIT_SECONDS)

    def _run(self) -> None:
        raise NotImplementedError


class Poller(Background):
    """Hands its source's batches to the function, one after the other; after an empty poll it waits `idle_seconds`,
    and after a poll that failed (the emulator refusing, say) a second, then polls again, as an event source mapping
    keeps polling whatever happens."""

    POLL_FAILURE_SECONDS = 1.0

    def __init__(self, function: cfn.FunctionSpec, invoke: Invoker, *, idle_seconds: float) -> None:
        super().__init__(function, invoke)
        self.idle_seconds = idle_seconds

    def poll_once(self) -> int:
        """Hand the next batch to the function; how many records it held (0: none waiting)."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                handed = self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling, as the event source mapping does
                self._stopped.wait(self.POLL_FAILURE_SECONDS)
                continue
            if not handed:
                self._stopped.wait(self.idle_seconds)
