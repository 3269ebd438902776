"""Drill of each function's rollback: a version whose success path raises must trip an alarm its deployment watches.

Every handler answers its own exceptions with a 500 envelope (or sends an SQS record back), so Lambda counts no
error: the alarm a deploy rolls back on is the gateway's own GatewayFaults metric. For every function, the alarm is
read from its CodeDeploy deployment group in the transformed (deployed) template, the function's success path is
made to raise, and the metric it writes must be exactly the one that alarm watches; a provider failing (502) must
not write it, so a provider outage during a deploy does not roll the deploy back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kyc_gateway import observability
from local import template as cfn
from local.functions import invoke
from tests.integration.test_deployed_template import transformed
from tests.support.fake_provider import Reply
from tests.support.routes import provider_of

ENVIRONMENT = "dev"
APPLICATION_ID = "iapp_drill0000000000000001"
CUSTOMER_ID = "cstap_drill000000000000001"


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed(ENVIRONMENT)


def watched_metric(deployed: dict, function: str) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric name, dimensions) of the one alarm outside AWS/Lambda that rolls `function` back."""
    group = deployed["Resources"][f"{function}DeploymentGroup"]["Properties"]
    alarms = [
        deployed["Resources"][alarm["Name"]["Ref"]]["Properties"] for alarm in group["AlarmConfiguration"]["Alarms"]
    ]
    (own,) = [alarm for alarm in alarms if alarm["Namespace"] != "AWS/Lambda"]
    namespace = cfn.resolve(own["Namespace"], cfn.parameter_values({"Environment": ENVIRONMENT}))
    return namespace, own["MetricName"], {item["Name"]: item["Value"] for item in own["Dimensions"]}


def written_metrics(output: str) -> list[tuple[str, str, dict[str, str]]]:
    """Every EMF metric in `output`: (namespace, name, dimensions)."""
    found = []
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for name in directive["Dimensions"][0]}
            found += [(directive["Namespace"], metric["Name"], dimensions) for metric in directive["Metrics"]]
    return found


@pytest.fixture
def as_deployed(monkeypatch, physical_ids):
    """The metric namespace and service name each function has in ENVIRONMENT (read once per instance)."""

    def use(function: str) -> None:
        environment = cfn.function_environment(function, physical_ids, {"Environment": ENVIRONMENT})
        monkeypatch.setattr(observability, "_NAMESPACE", environment["POWERTOOLS_METRICS_NAMESPACE"])
        monkeypatch.setattr(observability, "SERVICE", environment["POWERTOOLS_SERVICE_NAME"])

    return use


def sample_event(function: str, aws) -> dict[str, Any]:
    """An event the function serves successfully: its sample event (an application read gets a stored one)."""
    events = cfn.ROOT / "events"
    if function == "ConnectFiApplicationFunction":
        store_application(aws)
        event = json.loads((events / f"{function}.not-found.json").read_text())
        event["pathParameters"] = {"applicationId": APPLICATION_ID}
        event["path"] = f"/connectfi/applications/{APPLICATION_ID}"
        return event
    path = events / f"{function}.json"
    return json.loads((path if path.exists() else events / f"{function}.accepted.json").read_text())


def store_application(aws) -> None:
    """An application the reconciliation has to check again (open, last checked long ago)."""
    from kyc_gateway.settings import get_settings

    aws.client("dynamodb").put_item(
        TableName=get_settings().require("applications_table_name"),
        Item={
            "applicationId": {"S": APPLICATION_ID},
            "customerId": {"S": CUSTOMER_ID},
            "status": {"S": "waiting_review"},
            "open": {"S": "open"},
            "checkedAt": {"S": "2000-01-01T00:00:00.000Z"},
        },
    )


def break_success_path(monkeypatch, function: str) -> None:
    """A version whose success path raises TypeError on every request."""
    from kyc_gateway import api
    from kyc_gateway.providers.connectfi import applications, webhooks

    def broken(*_: Any, **__: Any) -> Any:
        raise TypeError("a bug in the new version")

    kind = cfn.functions()[function]
    if kind.api_events:
        monkeypatch.setattr(api, "_body_text", broken)  # every route's answer passes through it
    elif function == "ConnectFiWebhookProcessorFunction":
        monkeypatch.setattr(webhooks, "_confirm", broken)
    else:
        monkeypatch.setattr(applications, "due", broken)


def run(function: str, event: dict[str, Any]) -> Any:
    try:
        return invoke(cfn.functions()[function], event)
    except TypeError as error:
        return error  # a scheduled run that fails by the gateway's fault fails its invocation


FUNCTIONS = sorted(cfn.functions())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_version_whose_success_path_raises_writes_the_metric_its_rollback_alarm_watches(
    function, deployed, sandboxed_gateway, aws, as_deployed, monkeypatch, capsys
):
    # Given the function as deployed in dev, and the alarm its deployment rolls back on; its providers answer
    watched = watched_metric(deployed, function)
    as_deployed(function)
    event = sample_event(function, aws)
    break_success_path(monkeypatch, function)
    capsys.readouterr()

    # When it serves a request that would succeed
    result = run(function, event)

    # Then the caller (or the queue) sees a failure, and the metric the alarm watches is written, exactly
    if isinstance(result, dict) and "statusCode" in result:
        assert (result["statusCode"], json.loads(result["body"])["error"]["code"]) == (500, "internal_error")
    elif isinstance(result, dict) and "batchItemFailures" in result:
        assert len(result["batchItemFailures"]) == len(event["Records"])
    else:
        assert isinstance(result, TypeError)
    assert watched in written_metrics(capsys.readouterr().out)


PROVIDER_FUNCTIONS = [name for name in FUNCTIONS if provider_of(cfn.functions()[name]) is not None]


@pytest.mark.parametrize("function", PROVIDER_FUNCTIONS)
def test_a_provider_failing_does_not_write_the_metric_a_rollback_watches(
    function, deployed, gateway, aws, as_deployed, capsys
):
    # Given the provider answers 502 to everything (a provider outage during a deploy)
    watched = watched_metric(deployed, function)
    as_deployed(function)
    gateway.provider.fallback = Reply(502, b'{"error": "bad gateway"}')
    event = sample_event(function, aws)
    if function == "ConnectFiReconcilerFunction":
        store_application(aws)
    capsys.readouterr()

    result = run(function, event)

    # Then the request fails as the provider's failure, and nothing a rollback watches is written
    if "statusCode" in result:
        assert (result["statusCode"], json.loads(result["body"])["error"]["provider"]) == (
            502,
            provider_of(cfn.functions()[function]).name,
        )
    elif "batchItemFailures" in result:
        assert len(result["batchItemFailures"]) == len(event["Records"])
    else:
        assert result["failed"] == 1
    names = {name for _, name, _ in written_metrics(capsys.readouterr().out)}
    assert "ProviderFailures" in names or function == "ConnectFiReconcilerFunction"
    assert watched[1] not in names
