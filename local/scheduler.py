"""Runs the template's scheduled functions (`Schedule` / `ScheduleV2` events) as EventBridge would: one invocation
every period, the period from the template's schedule expression or LOCAL_SCHEDULE_SECONDS."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from project import template as cfn

Invoker = Callable[[cfn.FunctionSpec, dict[str, Any]], Any]
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    """The period of a `rate(...)` expression; a `cron(...)` one has no fixed period (set LOCAL_SCHEDULE_SECONDS)."""
    found = _RATE.match(expression.strip())
    if not found:
        raise ValueError(f"not a rate expression: {expression!r} (set LOCAL_SCHEDULE_SECONDS)")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).removesuffix("s")]


def schedule_expressions(spec: cfn.FunctionSpec, values: dict[str, str]) -> list[str]:
    """The resolved schedule expressions of the function's scheduled events."""
    return [
        str(cfn.resolve(event["Properties"]["ScheduleExpression"], values))
        for event in (spec.properties.get("Events") or {}).values()
        if event.get("Type") in ("Schedule", "ScheduleV2")
    ]


class Scheduler:
    """Invokes one scheduled function every `period` seconds until stopped. A failed run is logged by the function
    itself; the next run starts over, as EventBridge Scheduler's would with no retry."""

    def __init__(self, function: cfn.FunctionSpec, period: float, invoke: Invoker) -> None:
        self.function = function
        self.period = period
        self.invoke = invoke
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function.logical_id}", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        # At a fixed rate, as EventBridge starts them: a run's own length does not push the next one back. A run
        # longer than the period is followed by the next at once, not by a burst of the runs it overlapped.
        due = time.monotonic() + self.period
        while not self._stopped.wait(max(0.0, due - time.monotonic())):
            due += self.period
            try:
                self.invoke(self.function, {})
            except Exception as error:  # noqa: BLE001 - keep the schedule going, as EventBridge does
                print(f"scheduled {self.function.logical_id} failed: {type(error).__name__}", file=sys.stderr)
            due = max(due, time.monotonic())
