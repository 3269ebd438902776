"""Powertools Logger and metrics shared by every function.

Only routes, codes, statuses and timings are logged or measured: never bodies, secrets, tokens or personal data.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "kyc-gateway"))
_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KycGateway")


def record_provider_call(provider: str, operation: str, status: int | str, elapsed_ms: float) -> None:
    """One EMF datapoint per provider attempt: latency, by provider, operation and answer status."""
    with single_metric(
        name="ProviderLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms, namespace=_NAMESPACE
    ) as metric:
        metric.add_dimension(name="Provider", value=provider)
        metric.add_dimension(name="Operation", value=operation)
    logger.info("provider call", provider=provider, operation=operation, status=status, elapsed_ms=round(elapsed_ms, 1))


# Outcome codes that are a provider (or a token of it) failing: what the per-provider alarms count.
_TOKEN_FAILURES = frozenset({"provider_auth_failed", "token_unavailable"})


def record_outcome(route: str, code: str, status: int, elapsed_ms: float, provider: str | None = None) -> None:
    """One EMF count per request, by route and outcome code ("ok" or the error code); and, when a provider failed,
    one by provider (ProviderFailures: provider_* and circuit_open; TokenFailures: its token could not be had)."""
    with single_metric(name="Requests", unit=MetricUnit.Count, value=1, namespace=_NAMESPACE) as metric:
        metric.add_dimension(name="Route", value=route)
        metric.add_dimension(name="Code", value=code)
    if provider and (code.startswith("provider_") or code in ("circuit_open", "token_unavailable")):
        count("ProviderFailures", Provider=provider)
        if code in _TOKEN_FAILURES:
            count("TokenFailures", Provider=provider)
    logger.info("request completed", route=route, status=status, code=code, elapsed_ms=round(elapsed_ms, 1))


def count(name: str, **dimensions: str) -> None:
    """One EMF count of `name`: an event worth an alarm, such as a webhook that could not be queued."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=_NAMESPACE) as metric:
        for dimension, value in dimensions.items():
            metric.add_dimension(name=dimension, value=value)
