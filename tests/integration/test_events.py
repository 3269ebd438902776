"""Every sample event under events/ runs through its function's handler (the in-process `sam local invoke`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kyc_gateway import audit
from kyc_gateway.providers.connectfi.webhooks import ApplicationPath
from kyc_gateway.registry import BY_NAME
from local.functions import invoke
from project import template as cfn
from tests.support.deploy_drill import DEPLOYMENT_ID, HOOK, HOOK_EXECUTION_ID  # HOOK's event: every deploy drill

EVENTS = sorted(path for path in (cfn.ROOT / "events").glob("*.json") if path.name != "env.json")
GATEWAY_EVENTS = [path for path in EVENTS if not path.name.startswith(f"{HOOK}.")]
# What a sample's variant name promises: an HTTP status for API events, failed records for SQS batches.
EXPECTED_STATUS = {"": 200, "accepted": 202, "invalid": 400, "wrong-token": 401, "not-found": 404}
FAILING_SQS_VARIANTS = {"poison", "unknown-application"}  # the sandbox knows no such application


def function_of(event_file: Path) -> str:
    """`events/<LogicalId>[.<variant>].json` belongs to function <LogicalId>."""
    return event_file.name.split(".")[0]


def test_every_function_of_the_template_has_a_sample_event():
    lambdas = cfn.lambda_functions()
    assert HOOK in lambdas
    assert {function_of(path) for path in EVENTS} >= lambdas


def test_the_deploy_hooks_sample_event_is_the_one_its_drill_runs():
    event = json.loads((cfn.ROOT / "events" / f"{HOOK}.json").read_text())
    assert (event["DeploymentId"], event["LifecycleEventHookExecutionId"]) == (DEPLOYMENT_ID, HOOK_EXECUTION_ID)


@pytest.mark.parametrize("event_file", GATEWAY_EVENTS, ids=[path.name for path in GATEWAY_EVENTS])
def test_sample_event_runs_through_its_handler(sandboxed_gateway, event_file, monkeypatch):
    # Given a sample event and the provider sandbox behind the gateway, and the audit records it leaves
    spec = cfn.functions()[function_of(event_file)]
    event = json.loads(event_file.read_text())
    recorded: list[tuple[str, list]] = []
    write = audit.record

    def record(fields, subjects):
        recorded.append((fields["provider"], list(subjects)))
        write(fields, recorded[-1][1])

    monkeypatch.setattr(audit, "record", record)

    # When the function's handler receives it
    result = invoke(spec, event)

    # Then every subject it records is of a kind its provider declares (else the record is not written, only logged)
    for provider, subjects in recorded:
        declared = {kind.name for kind in BY_NAME[provider].subject_kinds}
        for kind, _ in subjects:
            assert kind in declared, f"subject kind {kind!r}: add it to {provider}'s subject_kinds in registry.py"

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


def test_the_not_found_sample_names_an_id_the_route_accepts_and_no_application_can_have(sandboxed_gateway):
    # Given the not-found sample's application id: the route's validation accepts it (the 404 is the lookup's),
    # and it lacks the `iapp_` every connectFi application id starts with (docs/providers/connectfi.md)
    not_found = json.loads((cfn.ROOT / "events" / "ConnectFiApplicationFunction.not-found.json").read_text())
    application_id = not_found["pathParameters"]["applicationId"]
    assert ApplicationPath(applicationId=application_id).applicationId == application_id
    assert not_found["path"] == f"/connectfi/applications/{application_id}"
    assert not application_id.startswith("iapp_")

    # When every other sample event has run first: the writes and the webhook processor record the applications
    # they name (the sandbox's seeded one among them)
    functions = cfn.functions()
    for event_file in GATEWAY_EVENTS:
        if "not-found" not in event_file.name:
            invoke(functions[function_of(event_file)], json.loads(event_file.read_text()))

    # Then the sample still finds no application
    result = invoke(functions["ConnectFiApplicationFunction"], not_found)
    assert (result["statusCode"], json.loads(result["body"])["error"]["code"]) == (404, "application_not_found")
