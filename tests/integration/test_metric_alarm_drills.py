"""Drills of the alarms on the gateway's own metrics: for each, the failure it exists for is made to happen through
the function that meets it, as often as its threshold asks, and what the function writes must be exactly the series
the alarm watches in the transformed (deployed) template, namespace and dimensions included, in an amount that
puts the alarm in ALARM. A metric written under another dimension, or not at all, leaves an alarm that never fires:
these tests fail instead. Every such alarm of the template is drilled here or names the test that drills it."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from local.functions import invoke
from local.sqs_poller import event_source_options
from project import template as cfn
from tests.integration import test_rollback_drill
from tests.integration.routes.test_connectfi import (
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    application,
    login_reply,
)
from tests.integration.test_rollback_drill import ENVIRONMENT, breaches, watched
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.routes import provider_routes
from tests.support.webhooks import PROCESSOR, deliver, queue_source, webhook

RECONCILER = "ConnectFiReconcilerFunction"

HERE = "tests/integration/test_metric_alarm_drills.py"
# Each alarm on the gateway's metrics but a provider's and a rollback's: the test that drills it, reading the alarm
# from the transformed template.
DRILLS = {
    "WebhooksNotQueuedAlarm": (HERE, "test_a_webhook_the_queue_does_not_take_trips_its_alarm"),
    "WebhooksQueueOutcomeUnknownAlarm": (HERE, "test_a_webhook_the_queue_does_not_take_trips_its_alarm"),
    "ApplicationsNotRecordedAlarm": (HERE, "test_an_application_the_table_does_not_take_trips_its_alarm"),
    "WebhookProcessingFailuresAlarm": (HERE, "test_records_the_processor_fails_trip_the_processing_alarm"),
    "ConnectFiReconciliationRunFailuresAlarm": (HERE, "test_a_reconciliation_run_connectfi_fails_trips_its_alarm"),
    "SecretReadFailuresAlarm": (HERE, "test_a_secrets_reread_secrets_manager_fails_trips_its_alarm"),
    "AuditWriteFailuresAlarm": (
        "tests/integration/test_audit_records.py",
        "test_a_record_the_table_refuses_is_logged_and_alarmed_and_the_caller_still_gets_its_answer",
    ),
    "AuditRecordsChangedAlarm": (
        "tests/integration/test_audit_archive.py",
        "test_a_record_changed_or_removed_by_hand_is_archived_as_it_was_and_trips_its_alarm",
    ),
    "ApplicationsNoLongerReconciledAlarm": (
        "tests/integration/routes/test_connectfi_reconciliation_runs.py",
        "test_an_application_connectfi_did_not_know_three_times_leaves_the_queue_under_the_deployed_alarm",
    ),
}
PROVIDER_METRICS = ("ProviderFailures", "TokenFailures")  # one alarm per provider each: PROVIDER_ALARMS
ROLLBACK_DRILL = "tests/integration/test_rollback_drill.py"  # every function's VersionFaults and GatewayFaults alarm
ROLLBACK_METRICS = ("VersionFaults", "GatewayFaults")

# The rollback drill's fixtures: the template as deployed in ENVIRONMENT, and a function's metric namespace and
# service name as deployed there
deployed = test_rollback_drill.deployed
as_deployed = test_rollback_drill.as_deployed


def own_metric_alarms(deployed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deployed alarms on a metric of the gateway's own namespace, by logical id."""
    values = cfn.parameter_values({"Environment": ENVIRONMENT})
    own = f"KycGateway/{ENVIRONMENT}"
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in deployed["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and "Namespace" in resource["Properties"]
        and cfn.resolve(resource["Properties"]["Namespace"], values) == own
    }


def assert_trips(alarm: dict[str, Any], written: str, failures: int) -> None:
    """Every datapoint of the alarm's metric written is on the series it watches, `failures` in all, and that many
    within one period puts it in ALARM."""
    namespace, name, dimensions = watched(alarm)
    series = {
        (metric.namespace, frozenset(metric.dimension_values.items()))
        for metric in emf.metrics(written)
        if metric.name == name
    }
    assert series == {(namespace, frozenset(dimensions.items()))}, series  # CloudWatch ignores dimensions' order
    values = [value for metric in emf.metrics(written) if metric.name == name for value in metric.values]
    assert sum(values) == failures
    assert breaches(alarm, [values])


def threshold(alarm: dict[str, Any]) -> int:
    """The fewest failures in one period that meet the alarm's threshold."""
    return max(1, math.ceil(alarm["Threshold"]))


def test_every_alarm_on_the_gateways_own_metrics_is_drilled(deployed):
    alarms = own_metric_alarms(deployed)
    # one of each per function, each drilled by ROLLBACK_DRILL: the rollback's, and the operators' on any version
    rollback = {logical_id for logical_id, alarm in alarms.items() if alarm["MetricName"] in ROLLBACK_METRICS}
    assert len(rollback) == len(ROLLBACK_METRICS) * len(cfn.functions())
    providers = {logical_id for logical_id, alarm in alarms.items() if alarm["MetricName"] in PROVIDER_METRICS}
    assert providers == set(PROVIDER_ALARMS)
    assert set(alarms) - rollback - providers == set(DRILLS)
    for path, test in DRILLS.values():
        assert re.search(rf"^def {test}\(", (cfn.ROOT / path).read_text(), re.MULTILINE), (path, test)


# --- a provider failing, and its token ---------------------------------------------------------------------------


def _route_of(provider: str):
    """One API route calling `provider`: a read where it has one (a write's key would replay its first failure)."""
    routes = sorted((route for route in provider_routes() if route.provider.name == provider), key=lambda r: r.write)
    return routes[0]


PROVIDER_ALARMS = sorted(
    logical_id
    for logical_id, resource in cfn.load()["Resources"].items()
    if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"].get("MetricName") in PROVIDER_METRICS
)


@pytest.mark.parametrize("logical_id", PROVIDER_ALARMS)
def test_a_provider_failing_trips_its_alarm(logical_id, deployed, gateway, as_deployed, stopped_clock, logs):
    # Given the provider failing every call: a server error (ProviderFailures), or refusing the gateway's
    # credentials at every sign-in (TokenFailures)
    alarm = deployed["Resources"][logical_id]["Properties"]
    _, kind, dimensions = watched(alarm)
    provider = dimensions["Provider"]
    route = _route_of(provider)
    as_deployed(route.function)
    refused = Reply(401, b'{"error": "invalid credentials"}')
    gateway.provider.fallback = refused if kind == "TokenFailures" else Reply(500, b'{"error": "down"}')
    logs()

    # When callers call it as often as the alarm's threshold, each in its own instance
    for number in range(threshold(alarm)):
        gateway.new_instance()
        headers = [("Idempotency-Key", f"drill-{number}")] if route.write else []
        answer = gateway.call(route.function, route.body, headers=headers)
        assert answer.status >= 500 and answer.error["provider"] == provider, answer.text

    # Then the alarm the provider's failures are watched by fires
    assert_trips(alarm, logs(), threshold(alarm))


@pytest.mark.parametrize("logical_id", [name for name in PROVIDER_ALARMS if name.endswith("ProviderFailuresAlarm")])
def test_a_provider_still_rate_limiting_after_the_retries_trips_its_alarm(
    logical_id, deployed, gateway, as_deployed, stopped_clock, logs
):
    # Given the provider answering every call 429 (the gateway retries within its budget, then answers 429 itself)
    alarm = deployed["Resources"][logical_id]["Properties"]
    provider = watched(alarm)[2]["Provider"]
    route = _route_of(provider)
    as_deployed(route.function)
    gateway.provider.fallback = Reply(429, b'{"error": "slow down"}', headers=(("Retry-After", "0"),))
    logs()

    # When callers call it as often as the alarm's threshold, each in its own instance
    for number in range(threshold(alarm)):
        gateway.new_instance()
        headers = [("Idempotency-Key", f"drill-{number}")] if route.write else []
        answer = gateway.call(route.function, route.body, headers=headers)
        assert (answer.status, answer.error["code"], answer.error["provider"]) == (429, "rate_limited", provider)

    # Then the alarm the provider's failures are watched by fires: callers are refused while it limits the gateway
    assert_trips(alarm, logs(), threshold(alarm))


# --- the webhook pipeline ------------------------------------------------------------------------------------------


class RefusingQueue:
    """An SQS client whose every send fails with `error()`."""

    def __init__(self, error: Callable[[], Exception]) -> None:
        self.error = error

    def send_message(self, **_: Any) -> None:
        raise self.error()


def _sqs_error(status: int, code: str) -> Callable[[], Exception]:
    from botocore.exceptions import ClientError

    answer = {"Error": {"Code": code, "Message": "refused"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return lambda: ClientError(answer, "SendMessage")


def _deliveries_failing(gateway, monkeypatch, error, alarm: dict[str, Any], code: str) -> None:
    """Webhooks delivered while every send to the queue fails with `error()`, as many as the alarm's threshold."""
    from kyc_gateway import aws

    monkeypatch.setattr(aws, "quick_client", lambda service: RefusingQueue(error))
    for _ in range(threshold(alarm)):
        answer = deliver(gateway, webhook())
        assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (503, code)


@pytest.mark.parametrize(
    ("logical_id", "error", "code"),
    [
        # the queue refusing the receiver (its key disabled, its policy changed)
        ("WebhooksNotQueuedAlarm", _sqs_error(403, "AccessDenied"), "webhook_not_queued"),
        # SQS failing with a server error: the message may have been queued all the same
        ("WebhooksQueueOutcomeUnknownAlarm", _sqs_error(500, "InternalError"), "webhook_queue_outcome_unknown"),
    ],
    ids=["refused", "outcome unknown"],
)
def test_a_webhook_the_queue_does_not_take_trips_its_alarm(
    logical_id, error, code, deployed, gateway, as_deployed, stopped_clock, monkeypatch, logs
):
    # Given the webhook queue failing every send this way
    alarm = deployed["Resources"][logical_id]["Properties"]
    as_deployed("ConnectFiWebhookFunction")
    logs()

    # When connectFi delivers webhooks, Then each is answered 503 (lost until reconciliation), and the alarm fires
    _deliveries_failing(gateway, monkeypatch, error, alarm, code)
    assert_trips(alarm, logs(), threshold(alarm))


def test_records_the_processor_fails_trip_the_processing_alarm(deployed, gateway, as_deployed, logs):
    # Given records the processor cannot process (not connectFi's webhooks), as many as the alarm's threshold
    alarm = deployed["Resources"]["WebhookProcessingFailuresAlarm"]["Properties"]
    as_deployed(PROCESSOR)
    records = [
        {"messageId": f"m{number}", "body": json.dumps({"hello": "not a connectFi webhook"})}
        for number in range(threshold(alarm))
    ]
    logs()

    # When they arrive, in one batch or several, Then each goes back to the queue and the alarm fires
    failed = []
    for batch in itertools.batched(records, event_source_options(queue_source())["batch_size"], strict=False):
        failed += invoke(cfn.functions()[PROCESSOR], {"Records": list(batch)})["batchItemFailures"]
    assert len(failed) == len(records)
    assert_trips(alarm, logs(), len(records))


# --- connectFi's applications ----------------------------------------------------------------------------------------


def test_an_application_the_table_does_not_take_trips_its_alarm(deployed, gateway, as_deployed, monkeypatch, logs):
    from kyc_gateway.providers.connectfi import applications

    # Given an applications table the identification cannot write
    alarm = deployed["Resources"]["ApplicationsNotRecordedAlarm"]["Properties"]
    as_deployed(IDENTIFY_FN)
    monkeypatch.setattr(applications, "_table", lambda: "kyc-gateway-local-no-such-table")
    gateway.provider.reply(LOGIN, login_reply())
    logs()

    # When identifications start applications, Then each caller still gets connectFi's answer, and the alarm fires
    for _ in range(threshold(alarm)):
        gateway.provider.reply(IDENTIFY, application("waiting_review"))
        assert gateway.call(IDENTIFY_FN, IDENTIFICATION).status == 200
    assert_trips(alarm, logs(), threshold(alarm))


def test_a_reconciliation_run_connectfi_fails_trips_its_alarm(deployed, gateway, aws, as_deployed, stopped_clock, logs):
    from kyc_gateway.settings import get_settings

    # Given open applications last checked long ago, and connectFi failing every status read
    alarm = deployed["Resources"]["ConnectFiReconciliationRunFailuresAlarm"]["Properties"]
    as_deployed(RECONCILER)
    for number in range(3):
        aws.client("dynamodb").put_item(
            TableName=get_settings().require("applications_table_name"),
            Item={
                "applicationId": {"S": f"iapp_drill{number:016d}"},
                "customerId": {"S": "cstap_drill000000000000001"},
                "status": {"S": "waiting_review"},
                "open": {"S": "open"},
                "checkedAt": {"S": "2000-01-01T00:00:00.000Z"},
            },
        )
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.fallback = Reply(500, b'{"code": "internal"}')
    logs()

    # When scheduled runs meet it, Then each run is recorded failed without failing its invocation, and the alarm
    # (not a rollback's: a connectFi outage during a deploy) fires
    for _ in range(threshold(alarm)):
        assert invoke(cfn.functions()[RECONCILER], {}) == {"error": "provider_error"}
    assert_trips(alarm, logs(), threshold(alarm))


# --- the gateway's own AWS services --------------------------------------------------------------------------------


def test_a_secrets_reread_secrets_manager_fails_trips_its_alarm(deployed, gateway, as_deployed, stopped_clock, logs):
    import os

    from tests.integration.routes.test_cladfy_krapin import FUNCTION, KRAPIN, PIN, SUCCESS
    from tests.support.aws_faults import inject, refused

    # Given an instance holding Cladfy's secret and the audit key, both due for a re-read, and Secrets Manager
    # throttling every read
    alarm = deployed["Resources"]["SecretReadFailuresAlarm"]["Properties"]
    as_deployed(FUNCTION)
    gateway.provider.reply(KRAPIN, SUCCESS)
    assert gateway.call(FUNCTION, {"pinnumber": PIN}).status == 200
    stopped_clock.advance(float(os.environ["SECRETS_MAX_AGE_SECONDS"]) + 1)
    inject("secretsmanager", "GetSecretValue", lambda _: refused("ThrottlingException"))
    logs()

    # When a request comes: served with the values held
    assert gateway.call(FUNCTION, {"pinnumber": PIN}).status == 200

    # Then each of its two failed re-reads is counted on the series the alarm watches, which fires
    assert_trips(alarm, logs(), 2)
