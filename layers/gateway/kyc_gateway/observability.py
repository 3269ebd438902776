"""Structured logs (kyc_gateway/logs.py) and CloudWatch metrics (embedded metric format) shared by every function.

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

from kyc_gateway import clock
from kyc_gateway.logs import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "kyc-gateway")
logger = Logger(SERVICE)
_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KycGateway")
# The published version this instance runs (Lambda sets it), named in its audit records: a deployment's rollback
# watches the new version's own faults, so that the old version's, during a canary, roll nothing back.
FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")

# Outcome codes that are a provider (or a token of it) failing: what the per-provider alarms count.
_TOKEN_FAILURES = frozenset({"provider_auth_failed", "token_unavailable"})
# Besides provider_*: the provider's circuit open, its token not had, its rate limit still on after the retries
_PROVIDER_FAILURES = frozenset({"circuit_open", "token_unavailable", "rate_limited"})

Metric = tuple[str, str, dict[str, str], float]  # name, unit, dimensions, value
_MAX_VALUES = 100  # datapoints of one metric in one EMF document: CloudWatch takes no more
_MAX_LOGGED_CALLS = 100  # provider calls listed in one request's line (a reconciliation run makes many)


class _InFlight(threading.local):
    """The request this thread serves: its provider calls and metrics, written when it completes (threads: the
    local stack serves requests concurrently in one process)."""

    calls: list[dict[str, Any]] | None = None
    metrics: list[Metric]
    noted: dict[str, list[Any]]


_in_flight = _InFlight()


def request_started(context: Any) -> None:
    """A request begins (an API request, an SQS record, a scheduled run): until `record_outcome`, its provider calls
    and counts belong to it, and its provider calls share its deadline (the Lambda `context`'s remaining time)."""
    clock.start_request(context)
    _open()


def _open() -> None:
    _in_flight.calls, _in_flight.metrics, _in_flight.noted = [], [], {}


def provider_calls() -> list[dict[str, Any]]:
    """The provider calls of the request in flight so far (none outside a request)."""
    return list(_in_flight.calls or ())


def note(field: str, value: Any) -> None:
    """Add `value` to the list `field` of the request's log line (outside a request: a line of its own at once)."""
    if _in_flight.calls is None:
        logger.error(field, **{field: [value]})
        return
    _in_flight.noted.setdefault(field, []).append(value)


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


def record_outcome(
    route: str, code: str, status: int, elapsed_ms: float, provider: str | None = None, *, fault: bool = False
) -> None:
    """The request's end: a Requests count by route and outcome code ("ok" or the error code); a GatewayFaults
    count by route when it failed by the gateway's own `fault`, and a VersionFaults count by route and version (what
    the function's deployments roll back on); when a provider failed (`provider`: GatewayError.failing_provider),
    one by provider (ProviderFailures: provider_*, circuit_open, rate_limited; TokenFailures: its token could not be
    had); with the request's other metrics in one document, and its one log line."""
    if _in_flight.calls is None:  # no request_started(): this request's calls and counts were written already
        _open()
    count("Requests", Route=route, Code=code)
    if fault:
        count("GatewayFaults", Route=route)
        count("VersionFaults", Route=route, Version=FUNCTION_VERSION)
    if provider and (code.startswith("provider_") or code in _PROVIDER_FAILURES):
        count("ProviderFailures", Provider=provider)
        if code in _TOKEN_FAILURES:
            count("TokenFailures", Provider=provider)
    calls, metrics, noted = _in_flight.calls, _in_flight.metrics, _in_flight.noted
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
        **noted,
    )


def _write_metrics(metrics: list[Metric]) -> None:
    """As few EMF documents as hold `metrics`: a document takes a metric when its dimension values agree with the
    document's (one value per member name) and its name is new there or has the same dimensions (values add up)."""
    # Each document: its top-level members, its metric directives, and each metric's dimension names.
    documents: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]]] = []
    timestamp = int(time.time() * 1000)
    for name, unit, own, value in metrics:
        dimensions = {**own, "service": SERVICE}
        shape = list(dimensions)
        document = next(
            (
                (members, directives, shapes)
                for members, directives, shapes in documents
                if all(members.get(key, wanted) == wanted for key, wanted in dimensions.items())
                and (name not in shapes or (shapes[name] == shape and len(members[name]) < _MAX_VALUES))
            ),
            None,
        )
        if document is None:
            document = ({}, [], {})
            documents.append(document)
        members, directives, shapes = document
        if name in shapes:
            members[name].append(value)
            continue
        members.update(dimensions)
        members[name], shapes[name] = [value], shape
        directives.append({"Namespace": _NAMESPACE, "Dimensions": [shape], "Metrics": [{"Name": name, "Unit": unit}]})
    for members, directives, _ in documents:
        document = {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": directives}, **members}
        print(json.dumps(document, separators=(",", ":")), flush=True)
