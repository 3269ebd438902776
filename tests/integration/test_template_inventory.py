"""Nothing is lost when template.yaml is generated: every alarm, log group, policy, role, secret, table, queue, key,
alias and deployment group of the hand-written template it replaced is in the CloudFormation deployed, the same.

deployed_inventory.json was recorded from the hand-written template's transformed form; a resource may be added
(a new provider or function), none may go or change meaning. Removing or changing one on purpose means recording
the inventory again (`python -m tests.integration.test_template_inventory`) and saying why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_deployed_template import transformed

RECORDED = Path(__file__).with_name("deployed_inventory.json")
ALARM_FIELDS = (
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
    "Metrics",
)
KINDS = {
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::DynamoDB::Table",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::Scheduler::Schedule",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::XRay::SamplingRule",
}


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _meaning(resource: dict[str, Any]) -> dict[str, Any]:
    """What must not change: an alarm's metric and thresholds, a policy's statements, a log group's name, retention
    and key, a secret's name, key and retention; for the rest, that it is there."""
    kind, properties = resource["Type"], resource.get("Properties") or {}
    meaning: dict[str, Any] = {"Type": kind}
    if kind == "AWS::CloudWatch::Alarm":
        meaning |= {field: properties[field] for field in ALARM_FIELDS if field in properties}
    elif kind == "AWS::IAM::ManagedPolicy":
        meaning["Statements"] = _sorted(properties["PolicyDocument"]["Statement"])
    elif kind == "AWS::IAM::Role":
        inline = [statement for policy in properties.get("Policies") or [] for statement in _statements(policy)]
        meaning |= {"ManagedPolicyArns": _sorted(properties.get("ManagedPolicyArns") or [])}
        meaning |= {"Statements": _sorted(inline)}
    elif kind == "AWS::Logs::LogGroup":
        meaning |= {key: properties.get(key) for key in ("LogGroupName", "RetentionInDays", "KmsKeyId")}
    elif kind == "AWS::SecretsManager::Secret":
        meaning |= {key: properties.get(key) for key in ("Name", "KmsKeyId")}
        meaning |= {key: resource.get(key) for key in ("DeletionPolicy", "UpdateReplacePolicy")}
    return meaning


def _statements(policy: dict[str, Any]) -> list[Any]:
    statement = policy["PolicyDocument"]["Statement"]
    return statement if isinstance(statement, list) else [statement]


def inventory(template: dict[str, Any]) -> dict[str, Any]:
    return {
        logical_id: _meaning(resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in KINDS
    }


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return transformed("dev")


def test_every_resource_of_the_hand_written_template_is_deployed_with_the_same_meaning(deployed):
    # Given the inventory recorded from the hand-written template, and the generated one as deployed
    recorded, now = json.loads(RECORDED.read_text()), inventory(deployed)

    # Then none is missing and none means something else
    assert sorted(set(recorded) - set(now)) == []
    assert {key: now[key] for key in recorded if now[key] != recorded[key]} == {}


def test_the_recorded_inventory_holds_every_alarm_log_group_and_policy_kind(deployed):
    # A witness that covers nothing proves nothing: it holds each kind of safety net, several times over
    recorded = json.loads(RECORDED.read_text())
    kinds = [entry["Type"] for entry in recorded.values()]
    assert kinds.count("AWS::CloudWatch::Alarm") >= 40
    assert kinds.count("AWS::Logs::LogGroup") >= 12
    assert kinds.count("AWS::IAM::ManagedPolicy") >= 5
    assert kinds.count("AWS::IAM::Role") >= 12


if __name__ == "__main__":  # records the inventory again, from the template as it is now
    RECORDED.write_text(json.dumps(inventory(transformed("dev")), indent=1, sort_keys=True) + "\n")
