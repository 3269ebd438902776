"""What an alarm needs besides its metric, read from the CloudFormation AWS deploys for dev and prod: a way to the
people it wakes (CloudWatch may publish to the encrypted topic and use its key), the API's and the functions' own
series (the deployed API's name and stage, each function's live alias), the rollbacks they stop, and a dead-letter
queue that keeps its letters long enough for its alarms and a redrive. The topic's check is also shown to fail on
the template with either of CloudWatch's grants removed, and the 5xx alarm's metric math is evaluated as CloudWatch
would, on the series it reads."""

from __future__ import annotations

import ast
import copy
import fnmatch
import math
import operator
import re
from typing import Any

import pytest

from project import template as cfn
from tests.integration import test_deployed_template
from tests.integration.test_access import listed
from tests.integration.test_deployed_template import gateway_functions, of_type, rollback_only
from tests.integration.test_rollback_drill import breaches

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)


def resolved(template: dict[str, Any], value: Any) -> Any:
    """`value` resolved for the template's environment, each resource's Ref and GetAtt being its logical id."""
    values = cfn.parameter_values({"Environment": template["environment"]}, template)
    own = {name: name for name in template["Resources"]}
    attributes = {
        f"{name}.{attribute}": f"{name}.{attribute}" for name in own for attribute in ("Arn", "QueueName", "Version")
    }
    return cfn.resolve(value, values | own | attributes, template)


def allows(policy: dict[str, Any], service: str, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether the resolved policy lets `service` do `action` on `resource` in a request with `context`: an allow
    naming the service, the action and the resource whose conditions hold, and no deny that applies."""

    def applies(statement: dict[str, Any]) -> bool:
        principal = statement["Principal"]
        named = principal == "*" or service in listed(principal.get("Service", []))
        actions = any(fnmatch.fnmatchcase(action, pattern) for pattern in listed(statement["Action"]))
        resources = any(fnmatch.fnmatchcase(resource, pattern) for pattern in listed(statement["Resource"]))
        if not (named and actions and resources):
            return False  # its conditions are not read: they may use operators this check does not evaluate
        conditions = statement.get("Condition") or {}
        return all(
            _condition_holds(test, key, expected, context)
            for test, pairs in conditions.items()
            for key, expected in pairs.items()
        )

    statements = policy["Statement"]
    return any(s["Effect"] == "Allow" and applies(s) for s in statements) and not any(
        s["Effect"] == "Deny" and applies(s) for s in statements
    )


def _condition_holds(test: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    """StringEquals and Bool, the operators these policies use (any other fails the check): the request's value
    among the expected ones, compared as IAM compares them (Bool's "true"/"false" in any case)."""
    assert test in ("StringEquals", "Bool"), f"{test} is not evaluated here"
    return str(context.get(key)).lower() in [str(item).lower() for item in listed(expected)]


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarms that notify: all but those that only roll a deployment back."""
    return {
        name: resource["Properties"]
        for name, resource in of_type(template, "AWS::CloudWatch::Alarm").items()
        if name not in rollback_only(template)
    }


def can_page(template: dict[str, Any]) -> list[str]:
    """The topics every alarm acts on, each checked: CloudWatch may publish to it over TLS and use its key."""
    account = cfn.parameter_values({}, template)["AWS::AccountId"]
    context = {"aws:SourceAccount": account, "aws:SecureTransport": "true"}
    topics = {topic for alarm in alarms(template).values() for topic in resolved(template, alarm["AlarmActions"])}
    for topic in topics:
        key = resolved(template, template["Resources"][topic]["Properties"]["KmsMasterKeyId"])
        key_policy = resolved(template, template["Resources"][key]["Properties"]["KeyPolicy"])
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert allows(key_policy, "cloudwatch.amazonaws.com", action, "*", context), (topic, action)
        policies = [
            resolved(template, policy["Properties"]["PolicyDocument"])
            for policy in of_type(template, "AWS::SNS::TopicPolicy").values()
            if topic in resolved(template, policy["Properties"]["Topics"])
        ]
        assert any(allows(policy, "cloudwatch.amazonaws.com", "sns:Publish", topic, context) for policy in policies)
    return sorted(topics)


def test_every_alarm_reaches_its_topic_whose_key_cloudwatch_may_use(deployed):
    # Given every alarm of the deployed template (but those that only roll a deployment back), each acting on the
    # same topic as it goes back to OK
    for name, alarm in alarms(deployed).items():
        assert resolved(deployed, alarm["AlarmActions"]) == resolved(deployed, alarm["OKActions"]) != [], name

    # Then CloudWatch may publish to that topic and use the key that encrypts it
    assert can_page(deployed) == ["AlarmTopic"]


@pytest.mark.parametrize(
    "remove",
    [
        ("DataKey", "KeyPolicy", "CloudWatchAlarmsPublishToTheEncryptedTopic"),
        ("AlarmTopicPolicy", "PolicyDocument", "ThisAccountsAlarmsOnly"),
    ],
    ids=["key policy", "topic policy"],
)
def test_without_cloudwatchs_grant_the_alarms_could_not_page_anyone(deployed, remove):
    # Given the deployed template without one of the statements that let CloudWatch through
    resource, document, sid = remove
    broken = copy.deepcopy(deployed)
    statements = broken["Resources"][resource]["Properties"][document]["Statement"]
    statements[:] = [statement for statement in statements if statement.get("Sid") != sid]

    # Then the check above fails on it
    with pytest.raises(AssertionError):
        can_page(broken)


# --- The API's alarms ---------------------------------------------------------------------------------------------


def api_series(template: dict[str, Any]) -> tuple[str, str]:
    """(ApiName, Stage) of the deployed API: CloudWatch's dimensions for its metrics."""
    (api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    (stage,) = of_type(template, "AWS::ApiGateway::Stage").values()
    return resolved(template, api["Properties"]["Name"]), resolved(template, stage["Properties"]["StageName"])


def watched_series(template: dict[str, Any], alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of each metric the alarm reads, alone or in its metric math."""
    metrics = [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]
    metrics = metrics or [alarm]
    return [
        (
            metric["Namespace"],
            metric["MetricName"],
            {item["Name"]: resolved(template, item["Value"]) for item in metric["Dimensions"]},
        )
        for metric in metrics
    ]


def test_the_apis_alarms_watch_the_deployed_api_and_stage(deployed):
    name, stage = api_series(deployed)
    api_alarms = {
        alarm_name: series
        for alarm_name, alarm in alarms(deployed).items()
        for series in [watched_series(deployed, alarm)]
        if any(namespace == "AWS/ApiGateway" for namespace, _, _ in series)
    }
    assert set(api_alarms) == {"Api5xxRateAlarm", "ApiLatencyP99Alarm"}
    for alarm_name, series in api_alarms.items():
        for namespace, _, dimensions in series:
            assert (namespace, dimensions) == ("AWS/ApiGateway", {"ApiName": name, "Stage": stage}), alarm_name


def test_the_latency_alarm_fires_before_callers_meet_the_provider_budget_or_a_timeout(deployed):
    from kyc_gateway.settings import Settings

    alarm = alarms(deployed)["ApiLatencyP99Alarm"]
    default = Settings.model_fields["provider_budget_seconds"].default
    limits = []
    for function in gateway_functions(deployed).values():
        variables = function["Properties"]["Environment"]["Variables"]
        limits += [
            float(resolved(deployed, variables.get("PROVIDER_BUDGET_SECONDS", default))),
            float(resolved(deployed, function["Properties"]["Timeout"])),
        ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] < 1000 * min(limits)
    # and its statistic sees callers held to the budget once they are more than 1 in 100, not 1 in 100
    # (1000 requests per period, each period of the evaluation alike)
    slow, fast = 1000 * min(limits), 200.0

    def fires(slow_requests: int) -> bool:
        period = [slow] * slow_requests + [fast] * (1000 - slow_requests)
        return percentile(period, alarm["ExtendedStatistic"]) > alarm["Threshold"]

    assert fires(11) and not fires(10)


def percentile(values: list[float], statistic: str) -> float:
    """CloudWatch's percentile statistic `pNN` of the values (nearest rank)."""
    rank = float(re.fullmatch(r"p(\d+(?:\.\d+)?)", statistic).group(1))
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


_OPERATIONS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.Eq: operator.eq,
}


def metric_math(expression: str, series: dict[str, float]) -> float:
    """CloudWatch metric math as the gateway's alarms use it (IF, arithmetic, comparisons, series by id)."""

    def value(node: ast.AST) -> float:
        match node:
            case ast.Call(func=ast.Name(id="IF"), args=[condition, then, otherwise]):
                return value(then) if value(condition) else value(otherwise)
            case ast.BinOp(left=left, op=op, right=right):
                return _OPERATIONS[type(op)](value(left), value(right))
            case ast.Compare(left=left, ops=[op], comparators=[right]):
                return _OPERATIONS[type(op)](value(left), value(right))
            case ast.Name(id=name):
                return series[name]
            case ast.Constant(value=number) if isinstance(number, int | float):
                return number
        raise ValueError(f"{ast.dump(node)} is not evaluated here")

    return value(ast.parse(expression, mode="eval").body)


def test_the_5xx_alarm_fires_on_a_rate_over_its_threshold_in_every_period_it_evaluates(deployed):
    # Given the alarm's metric math, over the API's 5xx answers and all its answers, each summed per period
    alarm = alarms(deployed)["Api5xxRateAlarm"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    read = {
        name: (query["MetricStat"]["Metric"]["MetricName"], query["MetricStat"]["Stat"])
        for name, query in queries.items()
        if "MetricStat" in query
    }
    assert read == {"errors": ("5XXError", "Sum"), "requests": ("Count", "Sum")}
    (rate,) = [query for query in queries.values() if query.get("ReturnData", True)]

    def periods(errors: float, requests: float, bad_periods: int) -> list[list[float]]:
        """The rate each period: `bad_periods` of them (the latest) with these counts, the others clean."""
        healthy = metric_math(rate["Expression"], {"errors": 0, "requests": requests})
        bad = metric_math(rate["Expression"], {"errors": errors, "requests": requests})
        return [[healthy]] * (alarm["EvaluationPeriods"] - bad_periods) + [[bad]] * bad_periods

    # Then a rate just over its threshold (in percent) for all its periods fires; at the threshold, over it for one
    # period only, or with no traffic at all, it does not
    requests, over, at = 1000, 10 * alarm["Threshold"] + 1, 10 * alarm["Threshold"]
    every = alarm["EvaluationPeriods"]
    assert breaches(alarm, periods(over, requests, every))
    assert not breaches(alarm, periods(at, requests, every))
    assert every > 1 and not breaches(alarm, periods(over, requests, 1))  # one bad period pages no one
    assert not breaches(alarm, periods(0, 0, every))


# --- The functions' rollbacks ---------------------------------------------------------------------------------------


def test_each_rollback_watches_its_functions_live_alias_and_stops_the_deployment(deployed):
    aliases = {
        resolved(deployed, alias["Properties"]["FunctionName"]): resolved(deployed, alias["Properties"]["Name"])
        for alias in of_type(deployed, "AWS::Lambda::Alias").values()
    }
    for function in gateway_functions(deployed):
        group = deployed["Resources"][f"{function}DeploymentGroup"]["Properties"]
        assert group["AlarmConfiguration"]["Enabled"] is True, function
        rollback = group["AutoRollbackConfiguration"]
        assert rollback["Enabled"] is True and "DEPLOYMENT_STOP_ON_ALARM" in rollback["Events"], function
        watched = [deployed["Resources"][a["Name"]["Ref"]]["Properties"] for a in group["AlarmConfiguration"]["Alarms"]]
        (errors,) = [alarm for alarm in watched if alarm["Namespace"] == "AWS/Lambda"]
        (_, metric, dimensions), *_ = watched_series(deployed, errors)
        # of the version the deployment moves the alias to: the old one, serving the rest of a canary, is not judged
        new_version = resolved(deployed, deployed["Resources"][f"{function}Aliaslive"]["Properties"]["FunctionVersion"])
        assert (metric, dimensions) == (
            "Errors",
            {"FunctionName": function, "Resource": f"{function}:{aliases[function]}", "ExecutedVersion": new_version},
        )


def test_one_throttled_invocation_of_any_function_puts_its_throttles_alarm_in_alarm(deployed):
    # Lambda counts throttles per function, whichever version or alias was invoked: one alarm per function reads that
    for function in gateway_functions(deployed):
        (alarm,) = [
            alarm
            for alarm in alarms(deployed).values()
            if watched_series(deployed, alarm) == [("AWS/Lambda", "Throttles", {"FunctionName": function})]
        ]
        assert breaches(alarm, [[1]]) and not breaches(alarm, [[]]), function


def test_the_runs_the_scheduler_drops_are_counted_on_the_schedules_own_group_whose_alarm_fires_on_one(deployed):
    # Given the reconciliation's schedule as deployed, without retries: a run whose invocation fails (the alias gone,
    # the scheduler's role refused, Lambda throttling) is dropped, and counted on the schedule's group
    (schedule,) = of_type(deployed, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    group = resolved(deployed, schedule["Properties"]["GroupName"])
    assert deployed["Resources"][group]["Type"] == "AWS::Scheduler::ScheduleGroup"
    (alarm,) = [alarm for alarm in alarms(deployed).values() if alarm.get("Namespace") == "AWS/Scheduler"]

    # When the scheduler drops one run, Then the alarm watching that group's dropped invocations fires
    assert watched_series(deployed, alarm) == [("AWS/Scheduler", "InvocationDroppedCount", {"ScheduleGroup": group})]
    assert breaches(alarm, [[1]]) and not breaches(alarm, [[]])


def test_a_schedule_that_stops_starting_runs_fires_the_missing_runs_alarm_within_its_window_and_never_before(deployed):
    # Given the reconciliation's schedule as deployed (its rate), and the alarm on its runs, the live alias's
    # invocations, over the window ReconcileSilenceSeconds gives
    (schedule,) = of_type(deployed, "AWS::Scheduler::Schedule").values()
    expression = resolved(deployed, schedule["Properties"]["ScheduleExpression"])
    every = rate_seconds(expression)
    alias = deployed["Resources"][resolved(deployed, schedule["Properties"]["Target"]["Arn"])]["Properties"]
    function = resolved(deployed, alias["FunctionName"])
    series = ("AWS/Lambda", "Invocations", {"FunctionName": function, "Resource": f"{function}:{alias['Name']}"})
    (alarm,) = [alarm for alarm in alarms(deployed).values() if watched_series(deployed, alarm) == [series]]
    window = int(resolved(deployed, alarm["Period"]))

    def periods(runs: list[int], until: int) -> list[list[float]]:
        """The datapoints Lambda writes for `runs` (seconds since an hour began), in each of the alarm's periods."""
        return [[1.0] * sum(start <= run < start + window for run in runs) for start in range(0, until, window)]

    # When the schedule starts a run at its rate, Then no window ever breaches, whatever the runs' offset in it
    day = 86400
    for offset in range(0, every, 60):
        healthy = periods(list(range(offset, 2 * day, every)), 2 * day)
        assert not any(breaches(alarm, healthy[: i + 1]) for i in range(len(healthy))), (expression, offset)

    # When it stops starting runs (disabled, deleted, the scheduler failing), whenever in a window its last run came,
    # Then the alarm fires at the end of the first whole window without a run (CloudWatch's periods follow the
    # clock): more than one window after the last run, and two at most
    for stop in range(3 * window, 4 * window, 60):
        runs = list(range(0, stop, every))
        stopped = periods(runs, stop + 2 * window)
        fired = next(i for i in range(len(stopped)) if breaches(alarm, stopped[: i + 1]))
        assert window < (fired + 1) * window - runs[-1] <= 2 * window, (stop, fired)


def rate_seconds(expression: str) -> int:
    """The gap between runs of an EventBridge Scheduler `rate(...)` expression."""
    found = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    assert found, f"the drill reads rate() schedules only: {expression}"
    return int(found.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[found.group(2)]


# --- The dead-letter queue --------------------------------------------------------------------------------------------


def test_a_dead_letter_outlives_its_time_in_the_queue_and_its_alarm(deployed):
    # SQS keeps a message's first enqueue time when it is dead-lettered: a letter that used its whole time in the
    # webhook queue must still be in the dead-letter queue when the age alarm fires, with days to redrive it
    resources = deployed["Resources"]
    (source,) = [
        (name, resource["Properties"])
        for name, resource in of_type(deployed, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in resource["Properties"]
    ]
    queue_name, queue = source
    dead = resolved(deployed, queue["RedrivePolicy"]["deadLetterTargetArn"]).removesuffix(".Arn")
    dead_retention = resources[dead]["Properties"]["MessageRetentionPeriod"]
    (age,) = [
        alarm
        for alarm in alarms(deployed).values()
        if alarm.get("MetricName") == "ApproximateAgeOfOldestMessage"
        and resolved(deployed, alarm["Dimensions"]) == [{"Name": "QueueName", "Value": f"{dead}.QueueName"}]
    ]
    alarmed_after = age["Threshold"] + age["Period"] * age["EvaluationPeriods"]
    day = 24 * 3600
    assert dead_retention >= queue["MessageRetentionPeriod"] + alarmed_after + day, queue_name
