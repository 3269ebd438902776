"""Every sample event under events/ runs through its function's handler (the in-process `sam local invoke`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.functions import invoke
from project import template as cfn

EVENTS = sorted(path for path in (cfn.ROOT / "events").glob("*.json") if path.name != "env.json")
# What a sample's variant name promises: an HTTP status for API events, failed records for SQS batches.
EXPECTED_STATUS = {"": 200, "accepted": 202, "invalid": 400, "wrong-token": 401, "not-found": 404}
FAILING_SQS_VARIANTS = {"poison", "unknown-application"}  # the sandbox knows no such application


def function_of(event_file: Path) -> str:
    """`events/<LogicalId>[.<variant>].json` belongs to function <LogicalId>."""
    return event_file.name.split(".")[0]


def test_every_function_has_a_sample_event():
    assert {function_of(path) for path in EVENTS} >= set(cfn.functions())


@pytest.mark.parametrize("event_file", EVENTS, ids=[path.name for path in EVENTS])
def test_sample_event_runs_through_its_handler(sandboxed_gateway, event_file):
    # Given a sample event and the provider sandbox behind the gateway
    spec = cfn.functions()[function_of(event_file)]
    event = json.loads(event_file.read_text())

    # When the function's handler receives it
    result = invoke(spec, event)

    # Then it answers as its variant name promises
    variant = event_file.name.split(".")[1] if event_file.name.count(".") > 1 else ""
    if not event:  # a scheduled run (EventBridge Scheduler sends no input): counts of what it did
        assert set(result) == {"checked", "changed", "failed", "retired"}
        return
    if "Records" in event:
        failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
        expected_failures = [r["messageId"] for r in event["Records"]] if variant in FAILING_SQS_VARIANTS else []
        assert failed == expected_failures
        return
    expected = (
        next(status for prefix, status in EXPECTED_STATUS.items() if prefix and variant.startswith(prefix))
        if variant
        else 200
    )
    assert result["statusCode"] == expected, result["body"]
    assert result["headers"]["X-Correlation-Id"] == event["headers"]["X-Correlation-Id"]
    json.loads(result["body"])
