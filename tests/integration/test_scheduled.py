"""Scheduled runs (EventBridge Scheduler -> a job of the gateway): every run is recorded with its outcome."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kyc_gateway.errors import GatewayError, ProviderUnavailable
from kyc_gateway.providers.connectfi.reconciliation import ROUTE
from kyc_gateway.scheduled import scheduled_handler
from tests.support.emf import named

CONTEXT = SimpleNamespace(
    aws_request_id="run-1",
    function_name="reconciler",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:reconciler",
    get_remaining_time_in_millis=lambda: 120_000,
)


def completed(written: str) -> dict:
    (line,) = [json.loads(line) for line in written.splitlines() if '"request completed"' in line]
    return line


def failing_with(error: Exception):
    def job(context):
        raise error

    return job


def test_a_run_that_completes_is_recorded_ok_with_its_counts(logs):
    handler = scheduled_handler(ROUTE, lambda context: {"checked": 2})
    assert handler({}, CONTEXT) == {"checked": 2}
    written = logs()
    assert (completed(written)["code"], completed(written)["status"]) == ("ok", 200)
    assert "RunFailures" not in named(written)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RuntimeError("EventBridge refused the event"), "RuntimeError"),
        (KeyError("applicationId"), "KeyError"),
        (GatewayError(), "internal_error"),
    ],
)
def test_a_run_that_fails_by_the_gateways_fault_raises_and_counts_a_gateway_fault(logs, error, code):
    # Given a job that fails by the gateway's own fault (a bug, AWS refusing)
    handler = scheduled_handler(ROUTE, failing_with(error))
    # When it runs, Then the invocation fails (the function's error alarm) and the run is recorded with its cause
    with pytest.raises(type(error)):
        handler({}, CONTEXT)
    written = logs()
    line = completed(written)
    assert (line["code"], line["status"]) == (code, 500)
    # and it counts the metric the function's rollback alarm watches, and a failed run
    counted = named(written)
    assert counted["GatewayFaults"] == {"Route": ROUTE, "service": "kyc-gateway"}
    assert counted["RunFailures"] == {"Route": ROUTE, "service": "kyc-gateway"}


def test_a_run_that_fails_because_its_provider_does_is_recorded_failed_without_failing_the_invocation(logs):
    # Given a job whose provider is down
    handler = scheduled_handler(ROUTE, failing_with(ProviderUnavailable("down", provider="connectfi")))
    # When it runs, Then the run is recorded failed and counted against the provider, not the gateway
    assert handler({}, CONTEXT) == {"error": "provider_unavailable"}
    written = logs()
    line = completed(written)
    assert (line["code"], line["status"]) == ("provider_unavailable", 500)
    counted = named(written)
    assert counted["ProviderFailures"]["Provider"] == "connectfi"
    assert "GatewayFaults" not in counted  # a provider outage during a deploy does not roll it back
    assert counted["RunFailures"]["Route"] == ROUTE  # but a run that did nothing is alarmed
