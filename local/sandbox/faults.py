"""Fault injection: the next calls of one provider operation meet a transport or server failure instead of their
normal answer (`ProviderSandbox.inject_fault`, or `POST /_sandbox/faults` from another process).

A fault description is checked before it is queued: a provider, an operation, a fault or an option the sandbox
does not know, or a count that is not a whole number of calls, would otherwise be queued and never fire."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

from local.sandbox.common import Reply, Request, html_reply, json_reply, truncated_json_reply

MAX_WAIT_SECONDS = 3600  # an hour: longer than any test or drill needs, and within what a thread can wait for


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _wait(value: Any) -> bool:
    return _number(value) and value <= MAX_WAIT_SECONDS


def _pause(value: Any) -> bool:
    return _wait(value) and value > 0


def _status(value: Any) -> bool:
    return _whole(value) and 100 <= value <= 599


def _redirect(value: Any) -> bool:
    return value in (301, 302, 303, 307, 308) and not isinstance(value, bool)


# fault -> its options: name -> (check, what the check wants)
Check = tuple[Callable[[Any], bool], str]
FAULT_OPTIONS: dict[str, dict[str, Check]] = {
    "reset": {},
    "cut": {},
    "slow": {"seconds": (_wait, "a number of seconds, 0 to 3600")},
    "status": {"status": (_status, "an HTTP status, 100 to 599")},
    "html": {"status": (_status, "an HTTP status, 100 to 599")},
    "truncated": {},
    "redirect": {"status": (_redirect, "a redirect status: 301, 302, 303, 307 or 308")},
    "rate_limit": {"retryAfter": (_whole, "a whole number of seconds, 0 or more")},
    "drip": {"seconds": (_pause, "a number of seconds above 0, at most 3600")},
}


def _one_of(names: Any) -> str:
    return ", ".join(sorted(names))


class FaultInjection:
    """ProviderSandbox's fault queues, one per (provider, operation), consumed one fault per call."""

    FAULTS = tuple(FAULT_OPTIONS)

    # provided by ProviderSandbox
    lock: threading.RLock
    slow_seconds: float
    stops_within: Callable[[float], bool]
    _faults: dict[tuple[str, str], list[list[Any]]]  # [fault description, calls left]
    operations: Callable[[], dict[str, dict[str, str]]]

    def inject_fault(self, provider: str, operation: str, fault: str, /, times: int = 1, **options: Any) -> None:
        """The next `times` calls of `provider`'s `operation` meet `fault` instead of their normal answer.
        Raises ValueError, naming what is wrong, for a description that could never fire as written."""
        served = self.operations()
        if provider not in served:
            raise ValueError(f"unknown provider {provider!r}: one of {_one_of(served)}")
        if operation not in served[provider]:
            raise ValueError(f"{provider} has no operation {operation!r}: one of {_one_of(served[provider])}")
        if fault not in FAULT_OPTIONS:
            raise ValueError(f"unknown fault {fault!r}: one of {_one_of(FAULT_OPTIONS)}")
        if not _whole(times) or times < 1:
            raise ValueError(f"times must be a whole number of calls, 1 or more (not {times!r})")
        allowed = FAULT_OPTIONS[fault]
        for name, value in options.items():
            if name not in allowed:
                takes = f"its options: {_one_of(allowed)}" if allowed else "it takes no options"
                raise ValueError(f"unknown option {name!r} for the {fault} fault ({takes})")
            check, wanted = allowed[name]
            if not check(value):
                raise ValueError(f"{fault} fault: {name} must be {wanted} (not {value!r})")
        with self.lock:
            self._faults.setdefault((provider, operation), []).append([{"fault": fault, **options}, times])

    def _add_fault(self, request: Request) -> Reply:
        try:
            description = request.json()
            if not isinstance(description, dict):
                raise ValueError("a fault description is a JSON object")
            missing = [key for key in ("provider", "operation", "fault") if key not in description]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            options = dict(description)
            named = [options.pop(key) for key in ("provider", "operation", "fault")]
            self.inject_fault(*named, **options)  # `times` and the fault's options by name
        except ValueError as error:
            return json_reply(400, {"error": f"bad fault: {error}"})
        return json_reply(200, {"injected": True})

    def _next_fault(self, provider: str, operation: str) -> Reply | None:
        with self.lock:
            queue = self._faults.get((provider, operation))
            if not queue:
                return None
            spec = queue[0][0]
            queue[0][1] -= 1
            if queue[0][1] == 0:
                queue.pop(0)
        fault = spec["fault"]
        if fault == "drip":  # a marker: the operation's own answer, done, is sent this slowly (ProviderSandbox)
            return Reply(0, b"", drip=float(spec.get("seconds", 1.0)))
        if fault == "reset":
            return Reply(0, b"", reset=True)
        if fault == "cut":
            return Reply(200, json.dumps({"injected": "an answer cut off", "padding": "x" * 40}).encode(), cut=True)
        if fault == "slow":
            self.stops_within(float(spec.get("seconds", self.slow_seconds)))
            return json_reply(503, {"error": "slow answer (injected fault)"})
        if fault == "html":
            return html_reply(spec.get("status", 502))
        if fault == "truncated":
            return truncated_json_reply({"injected": "truncated answer", "padding": "x" * 40})
        if fault == "redirect":  # to an address the sandbox does not serve: a client following it fails there
            location = (("Location", "/_sandbox/redirected"),)
            return Reply(spec.get("status", 302), b"", headers=location)
        if fault == "rate_limit":
            retry_after = str(spec.get("retryAfter", 1))
            return Reply(429, b'{"error": "too many requests"}', headers=(("Retry-After", retry_after),))
        return json_reply(spec.get("status", 503), {"error": "injected server error"})
