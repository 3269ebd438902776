"""Drill of each function's rollback: a version whose success path raises must trip an alarm its deployment watches.

Every handler answers its own exceptions with a 500 envelope (or sends an SQS record back), so Lambda counts no
error: the alarm a deploy rolls back on is the gateway's own VersionFaults metric, of the version being deployed.
For every function, the alarm is read from its CodeDeploy deployment group in the transformed (deployed) template,
the function's success path is made to raise, and the metric it writes must be exactly the one that alarm watches;
a provider failing (502) must not write it, so a provider outage during a deploy does not roll the deploy back, and
nor must the previous version's faults, which still serve during a canary. What no handler can answer for itself (a
version that cannot start) is Lambda's own Errors metric of that version, which the other rollback alarm watches.

A canary sends the new version a share of the requests only: each drill computes, from the alarm and prod's canary
as deployed, the odds that a version failing every request is rolled back within the canary at
CANARY_TRAFFIC_PER_MINUTE requests a minute, and holds them to ROLLBACK_ODDS. Below that traffic the odds fall
(docs/operations.md says by how much); the deploy check is what judges a version with little or no traffic.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
import re
import shutil
import sys
from typing import Any

import pytest

from kyc_gateway import observability
from local.functions import invoke
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.routes import provider_of

ENVIRONMENT = "dev"
NEW_VERSION = "8"  # the version a drill's deployment publishes; the previous one, still serving its canary, is 7
CANARY_TRAFFIC_PER_MINUTE = 10  # a function's requests a minute, at and above which its canary must catch a bad version
ROLLBACK_ODDS = 0.99
# The canary's last periods are never judged: a metric reaches CloudWatch a minute or so late (Lambda's, or the
# gateway's read from its logs), and a period is evaluated only once it is over, while CodeDeploy moves all traffic
# at the canary's end and stops watching.
EVALUATION_LAG_PERIODS = 2
APPLICATION_ID = "iapp_drill0000000000000001"
CUSTOMER_ID = "cstap_drill000000000000001"


@pytest.fixture(scope="module")
def deployed() -> dict:
    return transformed(ENVIRONMENT)


def rollback_alarm(deployed: dict, function: str, namespace: str = "") -> dict:
    """The properties of the one alarm that rolls `function`'s deployments back on Lambda's own metric (namespace
    AWS/Lambda), or else on the gateway's."""
    group = deployed["Resources"][f"{function}DeploymentGroup"]["Properties"]
    alarms = [
        deployed["Resources"][alarm["Name"]["Ref"]]["Properties"] for alarm in group["AlarmConfiguration"]["Alarms"]
    ]
    (own,) = [alarm for alarm in alarms if (alarm["Namespace"] == "AWS/Lambda") == (namespace == "AWS/Lambda")]
    return own


def watched(alarm: dict) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric name, dimensions) the alarm watches, in ENVIRONMENT; a deployment's alarm watches the
    version it publishes (its `Version` attribute), NEW_VERSION here."""
    namespace = cfn.resolve(alarm["Namespace"], cfn.parameter_values({"Environment": ENVIRONMENT}))
    return (
        namespace,
        alarm["MetricName"],
        {item["Name"]: _version_as_deployed(item["Value"]) for item in alarm["Dimensions"]},
    )


def _version_as_deployed(value: Any) -> Any:
    published = isinstance(value, dict) and value.get("Fn::GetAtt", [None, None])[1] == "Version"
    return NEW_VERSION if published else value


_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
}


def breaches(alarm: dict, period_values: list[list[float]]) -> bool:
    """Whether CloudWatch puts `alarm` in ALARM after these periods (each: the datapoints written in it, oldest
    period first; for a metric-math alarm, its expression's value): at least DatapointsToAlarm of the last
    EvaluationPeriods periods have a statistic that meets the threshold, a period without any breaching only when
    the alarm treats missing data so. Only what the gateway's alarms use is modelled (Sum or Maximum of one metric,
    or metric math; >, >= and <); anything else fails the drill."""
    assert "Metrics" in alarm or alarm["Statistic"] in ("Sum", "Maximum"), alarm
    statistic = max if alarm.get("Statistic") == "Maximum" else sum
    compare = _COMPARISONS[alarm["ComparisonOperator"]]
    missing_breaches = alarm.get("TreatMissingData") == "breaching"
    evaluated = period_values[-alarm["EvaluationPeriods"] :]
    breaching = sum(
        compare(statistic(values), alarm["Threshold"]) if values else missing_breaches for values in evaluated
    )
    return breaching >= alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])


@dataclasses.dataclass(frozen=True)
class Canary:
    """Prod's canary as deployed: the share of requests the new version gets, for how many seconds."""

    share: float
    seconds: int


@pytest.fixture(scope="module")
def canary() -> Canary:
    prod = transformed("prod")
    configurations = {
        cfn.resolve(group["Properties"]["DeploymentConfigName"], cfn.parameter_values({"Environment": "prod"}), prod)
        for group in prod["Resources"].values()
        if group["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    }
    (configuration,) = configurations
    found = re.fullmatch(r"CodeDeployDefault\.LambdaCanary(\d+)Percent(\d+)Minutes?", configuration)
    assert found, configuration
    return Canary(share=int(found.group(1)) / 100, seconds=60 * int(found.group(2)))


def rollback_odds(alarm: dict, canary: Canary, failure: list[float], per_minute: int) -> float:
    """The odds that `alarm` goes to ALARM within `canary` when the new version fails every request it gets (each
    writing `failure`) and the function gets `per_minute` requests a minute, each sent to the new version with the
    canary's share. Exact: every pattern of breaching periods, each judged by `breaches` at every evaluation, but
    the last EVALUATION_LAG_PERIODS."""
    periods = canary.seconds // alarm["Period"] - EVALUATION_LAG_PERIODS
    requests = per_minute * alarm["Period"] // 60
    meets_threshold = _COMPARISONS[alarm["ComparisonOperator"]]
    # the fewest failures whose datapoints meet the threshold in one period
    least = next((k for k in range(1, requests + 1) if meets_threshold(sum(failure) * k, alarm["Threshold"])), None)
    if least is None:
        return 0.0
    meets = sum(
        math.comb(requests, k) * canary.share**k * (1 - canary.share) ** (requests - k)
        for k in range(least, requests + 1)
    )
    odds = 0.0
    for pattern in itertools.product((False, True), repeat=periods):
        values = [failure * least if breaching else [] for breaching in pattern]
        if any(breaches(alarm, values[:end]) for end in range(1, periods + 1)):
            odds += math.prod(meets if breaching else 1 - meets for breaching in pattern)
    return odds


@pytest.fixture
def as_deployed(monkeypatch, physical_ids):
    """The metric namespace and service name each function has in ENVIRONMENT (read once per instance)."""

    def use(function: str) -> None:
        environment = cfn.function_environment(function, physical_ids, {"Environment": ENVIRONMENT})
        monkeypatch.setattr(observability, "_NAMESPACE", environment["POWERTOOLS_METRICS_NAMESPACE"])
        monkeypatch.setattr(observability, "SERVICE", environment["POWERTOOLS_SERVICE_NAME"])
        monkeypatch.setattr(observability, "FUNCTION_VERSION", NEW_VERSION)  # Lambda's AWS_LAMBDA_FUNCTION_VERSION

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


def schedule_seconds(function: str) -> int | None:
    """How often prod's schedule runs `function` (its `rate(...)` as deployed), or None: not a scheduled function."""
    prod = transformed("prod")
    schedules = [
        cfn.resolve(schedule["Properties"]["ScheduleExpression"], cfn.parameter_values({"Environment": "prod"}), prod)
        for schedule in prod["Resources"].values()
        if schedule["Type"] == "AWS::Scheduler::Schedule"
        and function in json.dumps(schedule["Properties"]["Target"]["Arn"])
    ]
    if not schedules:
        return None
    (expression,) = schedules
    count, unit = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", expression).groups()
    return int(count) * (60 if unit.startswith("minute") else 3600)


def break_success_path(monkeypatch, function: str) -> None:
    """A version whose success path raises TypeError on every request."""
    from kyc_gateway import api, audit_archive
    from kyc_gateway.providers.connectfi import applications, webhooks

    def broken(*_: Any, **__: Any) -> Any:
        raise TypeError("a bug in the new version")

    kind = cfn.functions()[function]
    if kind.api_events:
        monkeypatch.setattr(api, "_body_text", broken)  # every route's answer passes through it
    elif function == "ConnectFiWebhookProcessorFunction":
        monkeypatch.setattr(webhooks, "_confirm", broken)
    elif function == "AuditArchiveFunction":
        monkeypatch.setattr(audit_archive, "archived", broken)
    else:
        monkeypatch.setattr(applications, "due", broken)


def run(function: str, event: dict[str, Any]) -> Any:
    try:
        return invoke(cfn.functions()[function], event)
    except TypeError as error:
        return error  # a scheduled run that fails by the gateway's fault fails its invocation


FUNCTIONS = sorted(cfn.functions())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_version_whose_success_path_raises_trips_the_alarm_its_rollback_watches(
    function, deployed, canary, sandboxed_gateway, aws, as_deployed, monkeypatch, capsys
):
    # Given the function as deployed in dev, and the alarm its deployment rolls back on; its providers answer
    alarm = rollback_alarm(deployed, function)
    as_deployed(function)
    event = sample_event(function, aws)
    break_success_path(monkeypatch, function)
    capsys.readouterr()

    # When it serves a request that would succeed
    result = run(function, event)

    # Then the caller (or the queue) sees a failure, and the metric the alarm watches is written, exactly
    if isinstance(result, dict) and "statusCode" in result:
        assert (result["statusCode"], json.loads(result["body"])["error"]["code"]) == (500, "internal_error")
    elif isinstance(result, dict) and "batchItemFailures" in result:  # a stream's batch stops at its first failure
        stream = "dynamodb" in event["Records"][0]
        assert len(result["batchItemFailures"]) == (1 if stream else len(event["Records"]))
    else:
        assert isinstance(result, TypeError)
    namespace, name, dimensions = watched(alarm)
    written = [
        metric.values
        for metric in emf.metrics(capsys.readouterr().out)
        if (metric.namespace, metric.name, metric.dimension_values) == (namespace, name, dimensions)
    ]
    assert written, f"{function} wrote nothing its rollback alarm watches"
    # and a version failing so is rolled back within prod's canary at the traffic it is held to; a scheduled
    # function runs less often than the canary lasts, so its alarm cannot judge a canary: its deploy check runs its
    # job instead, before any traffic (test_deploy_check.py)
    if every := schedule_seconds(function):
        assert every > canary.seconds
        return
    assert rollback_odds(alarm, canary, list(written[0]), CANARY_TRAFFIC_PER_MINUTE) >= ROLLBACK_ODDS
    assert not breaches(alarm, [[]] * (canary.seconds // alarm["Period"]))  # while a healthy version is not


def lambda_errors(spec: cfn.FunctionSpec, event: dict[str, Any]) -> int:
    """What Lambda's Errors metric counts for one invocation: 1 when it raises (its start failed, or its handler let
    an error out), else 0 (an answer, even a 500, is the handler's)."""
    try:
        invoke(spec, event)
    except Exception:  # noqa: BLE001 - whatever escapes the invocation is one error to Lambda
        return 1
    return 0


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_version_that_cannot_start_trips_the_lambda_errors_alarm_its_rollback_watches(
    function, deployed, canary, sandboxed_gateway, aws, tmp_path, monkeypatch
):
    # Given the function's rollback alarm on Lambda's own Errors, and a new version of its code that cannot start
    # (its handler imports a module its bundle left out): what no handler can answer for itself; a scheduled
    # function runs less often than a canary lasts, and is judged by its deploy check (test_deploy_check.py)
    alarm = rollback_alarm(deployed, function, "AWS/Lambda")
    assert alarm["MetricName"] == "Errors"
    # of the version the deployment publishes (the one its live alias is moved to), not of the old one still serving
    dimensions = {item["Name"]: item["Value"] for item in alarm["Dimensions"]}
    alias = deployed["Resources"][f"{function}Aliaslive"]["Properties"]
    assert dimensions["ExecutedVersion"] == alias["FunctionVersion"]
    assert dimensions["Resource"] == {"Fn::Sub": f"${{{function}}}:live"}
    if every := schedule_seconds(function):
        assert every > canary.seconds
        return
    spec = cfn.functions()[function]
    broken = dataclasses.replace(spec, code_dir=tmp_path / spec.code_dir.name)
    shutil.copytree(spec.code_dir, broken.code_dir)
    handler = broken.code_dir / f"{spec.module}.py"
    handler.write_text("import kyc_gateway_module_left_out  # noqa: F401\n" + handler.read_text())
    monkeypatch.delitem(sys.modules, f"lambda_function_{function}", raising=False)
    periods = canary.seconds // alarm["Period"]

    # When it serves a request, as the healthy version would
    failing = [lambda_errors(broken, {})]
    monkeypatch.delitem(sys.modules, f"lambda_function_{function}", raising=False)
    healthy = [[lambda_errors(spec, sample_event(function, aws))]] * periods

    # Then the errors Lambda counts roll it back within prod's canary at the traffic it is held to, and the healthy
    # version's do not
    assert rollback_odds(alarm, canary, failing, CANARY_TRAFFIC_PER_MINUTE) >= ROLLBACK_ODDS
    assert not breaches(alarm, healthy)


PROVIDER_FUNCTIONS = [name for name in FUNCTIONS if provider_of(cfn.functions()[name]) is not None]


@pytest.mark.parametrize("function", PROVIDER_FUNCTIONS)
def test_a_provider_failing_does_not_write_the_metric_a_rollback_watches(
    function, deployed, gateway, aws, as_deployed, capsys
):
    # Given the provider answers 502 to everything (a provider outage during a deploy)
    _, watched_name, _ = watched(rollback_alarm(deployed, function))
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
    names = {metric.name for metric in emf.metrics(capsys.readouterr().out)}
    assert "ProviderFailures" in names or function == "ConnectFiReconcilerFunction"
    assert watched_name not in names


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_previous_versions_faults_during_a_canary_roll_nothing_back_and_page_the_operators(
    function, deployed, sandboxed_gateway, aws, as_deployed, monkeypatch, capsys
):
    # Given a deployment of NEW_VERSION under way, and the previous version, still serving most requests, failing
    alarm = rollback_alarm(deployed, function)
    as_deployed(function)
    monkeypatch.setattr(observability, "FUNCTION_VERSION", str(int(NEW_VERSION) - 1))
    event = sample_event(function, aws)
    break_success_path(monkeypatch, function)
    capsys.readouterr()

    # When it fails a request by the gateway's own fault
    run(function, event)

    # Then its fault is not on the series the deployment's rollback watches
    _, name, dimensions = watched(alarm)
    written = emf.metrics(capsys.readouterr().out)
    assert [metric for metric in written if metric.name == name and metric.dimension_values == dimensions] == []
    assert [metric.dimension_values["Version"] for metric in written if metric.name == name] == ["7"]
    # but on the one of the function's GatewayFaults alarm, whichever version serves, which pages the operators when
    # the faults go on (a version that broke after its deployment, or one whose canary saw too little traffic)
    operators = deployed["Resources"][f"{function}GatewayFaultsAlarm"]["Properties"]
    namespace, name, dimensions = watched(operators)
    faults = [
        metric.values
        for metric in written
        if (metric.namespace, metric.name, metric.dimension_values) == (namespace, name, dimensions)
    ]
    assert len(faults) == 1
    assert breaches(operators, faults * operators["EvaluationPeriods"])
    assert not breaches(operators, [[]] * operators["EvaluationPeriods"])
