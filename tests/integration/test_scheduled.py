"""Scheduled runs (EventBridge Scheduler -> a job of the gateway): every run is recorded with its outcome."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kyc_gateway.errors import ProviderUnavailable
from kyc_gateway.scheduled import scheduled_handler

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
    handler = scheduled_handler("connectfi.reconciliation", lambda context: {"checked": 2})
    assert handler({}, CONTEXT) == {"checked": 2}
    assert (completed(logs())["code"], completed(logs())["status"]) == ("ok", 200)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ProviderUnavailable("down", provider="connectfi"), "provider_unavailable"),
        (RuntimeError("EventBridge refused the event"), "RuntimeError"),
        (KeyError("applicationId"), "KeyError"),
    ],
)
def test_a_run_that_fails_raises_and_is_recorded_failed_never_ok(logs, error, code):
    # Given a job that fails, whether with a gateway error or anything else
    handler = scheduled_handler("connectfi.reconciliation", failing_with(error))
    # When it runs, Then the invocation fails (the function's error alarm) and the run is recorded with its cause
    with pytest.raises(type(error)):
        handler({}, CONTEXT)
    line = completed(logs())
    assert (line["code"], line["status"]) == (code, 500)
