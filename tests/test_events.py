"""Every sample event under events/ runs through its function's handler (the in-process `sam local invoke`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local import template as cfn
from local.functions import invoke

EVENTS = sorted(path for path in (cfn.ROOT / "events").glob("*.json") if path.name != "env.json")


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

    # Then it answers as API Gateway expects, with the status its variant name promises
    expected = 400 if ".invalid" in event_file.name else 404 if ".not-found" in event_file.name else 200
    assert result["statusCode"] == expected, result["body"]
    assert result["headers"]["X-Correlation-Id"] == event["headers"]["X-Correlation-Id"]
    json.loads(result["body"])
