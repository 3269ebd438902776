"""Fault injection: the next calls of one provider operation meet a transport or server failure instead of their
normal answer (`ProviderSandbox.inject_fault`, or `POST /_sandbox/faults` from another process)."""

from __future__ import annotations

import json
import threading
from typing import Any

from local.sandbox.common import Reply, Request, html_reply, json_reply, truncated_json_reply


class FaultInjection:
    """ProviderSandbox's fault queues, one per (provider, operation), consumed one fault per call."""

    FAULTS = ("reset", "cut", "slow", "status", "html", "truncated", "rate_limit")

    # provided by ProviderSandbox
    lock: threading.RLock
    slow_seconds: float
    _stopping: threading.Event
    _faults: dict[tuple[str, str], list[dict[str, Any]]]

    def inject_fault(self, provider: str, operation: str, fault: str, times: int = 1, **options: Any) -> None:
        """The next `times` calls of `provider`'s `operation` meet `fault` instead of their normal answer."""
        if fault not in self.FAULTS:
            raise ValueError(f"fault must be one of {', '.join(self.FAULTS)}")
        with self.lock:
            self._faults.setdefault((provider, operation), []).extend([{"fault": fault, **options}] * times)

    def _add_fault(self, request: Request) -> Reply:
        try:
            spec = request.json()
            self.inject_fault(
                spec.pop("provider"), spec.pop("operation"), spec.pop("fault"), int(spec.pop("times", 1)), **spec
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return json_reply(400, {"error": f"bad fault: {error}"})
        return json_reply(200, {"injected": True})

    def _next_fault(self, provider: str, operation: str) -> Reply | None:
        with self.lock:
            queue = self._faults.get((provider, operation))
            spec = queue.pop(0) if queue else None
        if spec is None:
            return None
        fault = spec["fault"]
        if fault == "reset":
            return Reply(0, b"", reset=True)
        if fault == "cut":
            return Reply(200, json.dumps({"injected": "an answer cut off", "padding": "x" * 40}).encode(), cut=True)
        if fault == "slow":
            self._stopping.wait(float(spec.get("seconds", self.slow_seconds)))
            return json_reply(503, {"error": "slow answer (injected fault)"})
        if fault == "html":
            return html_reply(int(spec.get("status", 502)))
        if fault == "truncated":
            return truncated_json_reply({"injected": "truncated answer", "padding": "x" * 40})
        if fault == "rate_limit":
            retry_after = str(spec.get("retryAfter", 1))
            return Reply(429, b'{"error": "too many requests"}', headers=(("Retry-After", retry_after),))
        return json_reply(int(spec.get("status", 503)), {"error": "injected server error"})
