"""The alarms the generator writes (generators/template.py): per provider and per function from the registry, and
the gateway's own, on metrics it writes itself (`KycGateway/<env>`), from the table below. An alarm on another
service's metric (SQS, API Gateway, WAF) stays in infrastructure/gateway.yaml, next to what it watches.

Each alarm needs a runbook entry (docs/operations.md) and a drill that makes its failure happen
(tests/integration/test_metric_alarm_drills.py refuses an alarm on the gateway's metrics without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generators.intrinsics import ref, sub


def alarm(
    name: str,
    description: str,
    metric: dict[str, Any],
    *,
    period: int,
    threshold: int,
    of: int = 1,
    at: int = 1,
    notify: bool = True,
    version: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An alarm on the Sum of `metric` reaching `threshold` in `at` of `of` periods, telling the alarm topic unless
    it only stops deployments (`notify` False). An alarm of one `version` carries it in its name: each version's
    alarm is a new one, starting without a state (an alarm updated in place keeps its state, and the last
    version's ALARM would stop the next deployment)."""
    evaluation = {"Period": period, "EvaluationPeriods": of} | ({"DatapointsToAlarm": at} if at != of else {})
    actions = {"AlarmActions": [ref("AlarmTopic")], "OKActions": [ref("AlarmTopic")]} if notify else {}
    named = f"kyc-gateway-${{Environment}}-{name}"
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": [f"{named}-${{Version}}", {"Version": version}]} if version else sub(named),
            "AlarmDescription": description,
            **actions,
            **metric,
            "Statistic": "Sum",
            **evaluation,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    }


def gateway_metric(name: str, *dimension: tuple[str, Any]) -> dict[str, Any]:
    """One of the gateway's own metrics (Powertools' EMF: the `service` dimension on every one)."""
    dimensions = [{"Name": key, "Value": value} for key, value in dimension]
    dimensions.append({"Name": "service", "Value": "kyc-gateway"})
    return {"Namespace": sub("KycGateway/${Environment}"), "MetricName": name, "Dimensions": dimensions}


@dataclass(frozen=True)
class GatewayAlarm:
    """An alarm on one of the gateway's own metrics: `<name>Alarm` in the template, on the metric's Sum reaching
    `threshold` in one `period` (seconds)."""

    name: str
    metric: str
    dimension: tuple[str, str] | None
    period: int
    threshold: int
    description: str


GATEWAY_ALARMS = (
    GatewayAlarm(
        "AuditWriteFailures",
        "AuditWriteFailures",
        None,
        period=60,
        threshold=1,
        description=(
            "An audit record could not be written to the audit table: it is only in the request's log line "
            "(audit_records_not_written), kept LogRetentionDays. Copy it to the table (docs/operations.md)."
        ),
    ),
    GatewayAlarm(
        "AuditRecordsChanged",
        "AuditRecordsChanged",
        None,
        period=300,
        threshold=1,
        description=(
            "An audit record was changed, or removed other than by its TTL: no code of the gateway does either. "
            "The archive bucket holds it as it was and as it became (docs/operations.md)."
        ),
    ),
    GatewayAlarm(
        "SecretReadFailures",
        "SecretReadFailures",
        None,
        period=300,
        threshold=1,
        description=(
            "Secrets Manager failed a re-read of a secret an instance holds: the value held serves meanwhile, "
            "a rotation is not seen, and 15 minutes past its max age the routes needing it fail (500)."
        ),
    ),
    GatewayAlarm(
        "WebhooksNotQueued",
        "WebhooksNotQueued",
        ("Provider", "connectfi"),
        period=60,
        threshold=1,
        description="A connectFi webhook could not be queued and was answered 503 (connectFi does not retry).",
    ),
    GatewayAlarm(
        "WebhooksQueueOutcomeUnknown",
        "WebhooksQueueOutcomeUnknown",
        ("Provider", "connectfi"),
        period=60,
        threshold=1,
        description=(
            "A connectFi webhook was answered 503 after a send to the queue whose answer was lost (a "
            "timeout, an SQS 5xx): it is often queued all the same; reconciliation catches any that was not."
        ),
    ),
    GatewayAlarm(
        "ApplicationsNotRecorded",
        "ApplicationsNotRecorded",
        ("Provider", "connectfi"),
        period=300,
        threshold=1,
        description=(
            "connectFi application states answered to an identification or an update were not recorded: "
            "reconciliation cannot see them."
        ),
    ),
    GatewayAlarm(
        "WebhookProcessingFailures",
        "RecordFailures",
        ("Route", "connectfi.webhook_processor"),
        period=900,
        threshold=10,
        description=(
            "connectFi webhook records failed processing (returned to the queue for a retry): 10 or more in 15 minutes."
        ),
    ),
    GatewayAlarm(
        "ConnectFiReconciliationRunFailures",  # it runs once per schedule period: one failed run is worth an alarm
        "RunFailures",
        ("Route", "connectfi.reconciler"),
        period=60,
        threshold=1,
        description=(
            "A reconciliation run failed, whatever the cause (connectFi failing on every application it "
            "tried, or the gateway's own fault): lost webhooks are not being caught up."
        ),
    ),
    GatewayAlarm(
        "ApplicationsNoLongerReconciled",
        "ApplicationsNoLongerReconciled",
        ("Provider", "connectfi"),
        period=3600,
        threshold=1,
        description=(
            "The reconciliation stopped checking a connectFi application: its state had not changed for "
            "ReconcileMaxAgeSeconds (stuck, or ended in a status other than completed), or connectFi did not "
            "know it at three checks in a row (a wrong ConnectFiBaseUrl or account?)."
        ),
    ),
)


def gateway_alarms() -> dict[str, Any]:
    return {
        f"{entry.name}Alarm": alarm(
            entry.name,
            entry.description,
            gateway_metric(entry.metric, *([entry.dimension] if entry.dimension else [])),
            period=entry.period,
            threshold=entry.threshold,
        )
        for entry in GATEWAY_ALARMS
    }
