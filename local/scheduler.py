"""Runs the template's scheduled functions (`Schedule` / `ScheduleV2` events) as EventBridge would: one invocation
every period, the period from the template's schedule expression or LOCAL_SCHEDULE_SECONDS."""

from __future__ import annotations

import re
import sys
import time

from local.background import Background, Invoker
from project import template as cfn

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


class Scheduler(Background):
    """Invokes one scheduled function every `period` seconds until stopped. A failed run is logged by the function
    itself; the next run starts over, as EventBridge Scheduler's would with no retry."""

    kind = "schedule"

    def __init__(self, function: cfn.FunctionSpec, period: float, invoke: Invoker) -> None:
        super().__init__(function, invoke)
        self.period = period

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
