"""Powertools Logger and CloudWatch metrics (embedded metric format) shared by every function.

Only routes, codes, statuses and timings are logged or measured: never bodies, secrets, tokens or personal data.

A request (an API request, an SQS record, a scheduled run) ends in one `request completed` line carrying its
provider calls, and one EMF document carrying all its metrics: writing them per event cost more CPU than the rest
of a warm request (make bench). Outside a request, calls and counts are written at once.

The EMF documents are written here, not with Powertools Metrics: its documents have one dimension set, and a
request's metrics have several (Route/Code, Provider/Operation, Provider). Every metric keeps the dimensions it
had with Powertools' `single_metric` (its own plus `service`), so dashboards and alarms see the same series.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "kyc-gateway")
logger = Logger(service=SERVICE)
_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KycGateway")

# Outcome codes that are a provider (or a token of it) failing: what the per-provider alarms count.
_TOKEN_FAILURES = frozenset({"provider_auth_failed", "token_unavailable"})

Metric = tuple[str, str, dict[str, str], float]  # name, unit, dimensions, value
_MAX_VALUES = 100  # datapoints of one metric in one EMF document: CloudWatch takes no more
_MAX_LOGGED_CALLS = 100  # provider calls listed in one request's line (a reconciliation run makes many)


class _InFlight(threading.local):
    """The request this thread serves: its provider calls and metrics, written when it completes (threads: the
    local stack serves requests concurrently in one process)."""

    calls: list[dict[str, Any]] | None = None
    metrics: list[Metric]


_in_flight = _InFlight()


def request_started() -> None:
    """From now until `record_outcome`, provider calls and counts belong to this request."""
    _in_flight.calls, _in_flight.metrics = [], []


def record_provider_call(provider: str, operation: str, status: int | str, elapsed_ms: float) -> None:
    """One provider attempt: a ProviderLatency datapoint by provider and operation, and an entry of the request's
    `provider_calls` (provider, operation, the answer's HTTP status or timeout/unreachable/broken, elapsed_ms)."""
    call = {"provider": provider, "operation": operation, "status": status, "elapsed_ms": round(elapsed_ms, 1)}
    latency = ("ProviderLatency", "Milliseconds", {"Provider": provider, "Operation": operation}, elapsed_ms)
    if _in_flight.calls is None:
        _write_metrics([latency])
        logger.info("provider call", **call)
        return
    _in_flight.calls.append(call)
    _in_flight.metrics.append(latency)


def count(name: str, **dimensions: str) -> None:
    """One EMF count of `name`: an event worth an alarm, such as a webhook that could not be queued."""
    metric = (name, "Count", dimensions, 1.0)
    if _in_flight.calls is None:
        _write_metrics([metric])
    else:
        _in_flight.metrics.append(metric)


def record_outcome(route: str, code: str, status: int, elapsed_ms: float, provider: str | None = None) -> None:
    """The request's end: a Requests count by route and outcome code ("ok" or the error code); when a provider
    failed, one by provider (ProviderFailures: provider_* and circuit_open; TokenFailures: its token could not be
    had); with the request's other metrics in one document, and its one log line."""
    if _in_flight.calls is None:  # no request_started(): this request's calls and counts were written already
        request_started()
    count("Requests", Route=route, Code=code)
    if provider and (code.startswith("provider_") or code in ("circuit_open", "token_unavailable")):
        count("ProviderFailures", Provider=provider)
        if code in _TOKEN_FAILURES:
            count("TokenFailures", Provider=provider)
    calls, metrics = _in_flight.calls, _in_flight.metrics
    _in_flight.calls = None
    _write_metrics(metrics)
    more = {"provider_calls_not_listed": len(calls) - _MAX_LOGGED_CALLS} if len(calls) > _MAX_LOGGED_CALLS else {}
    logger.info(
        "request completed",
        route=route,
        status=status,
        code=code,
        elapsed_ms=round(elapsed_ms, 1),
        provider_calls=calls[:_MAX_LOGGED_CALLS],
        **more,
    )


def _write_metrics(metrics: list[Metric]) -> None:
    """As few EMF documents as hold `metrics`: a document takes a metric when its dimension values agree with the
    document's (one value per member name) and its name is new there or has the same dimensions (values add up)."""
    documents: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    timestamp = int(time.time() * 1000)
    for name, unit, own, value in metrics:
        dimensions = {**own, "service": SERVICE}
        for members, directives in documents:
            fits = all(members.get(key, wanted) == wanted for key, wanted in dimensions.items())
            same = name in members and any(
                d["Metrics"][0]["Name"] == name and d["Dimensions"][0] == list(dimensions) for d in directives
            )
            if fits and (name not in members or (same and len(members[name]) < _MAX_VALUES)):
                break
        else:
            members, directives = {}, []
            documents.append((members, directives))
        if name in members:
            members[name].append(value)
            continue
        members.update(dimensions)
        members[name] = [value]
        directives.append(
            {"Namespace": _NAMESPACE, "Dimensions": [list(dimensions)], "Metrics": [{"Name": name, "Unit": unit}]}
        )
    for members, directives in documents:
        document = {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": directives}, **members}
        print(json.dumps(document, separators=(",", ":")), flush=True)
