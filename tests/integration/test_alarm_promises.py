"""What each alarm promises its operators (its description, docs/operations.md's runbook), written out here and not
read from the template: which failures fire it, and how soon. The drills (test_metric_alarm_drills.py and the
others) make each failure happen as often as the deployed alarm asks, which a weakened alarm (a higher threshold, a
longer period, more periods to breach) would pass too; these fail on it instead, for dev and prod."""

from __future__ import annotations

from typing import Any

from kyc_gateway.registry import FUNCTIONS, PROVIDERS
from project import template as cfn
from tests.integration import test_deployed_template
from tests.integration.test_deployed_template import of_type, rollback_only
from tests.integration.test_rollback_drill import breaches

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)

# alarm -> (failures, within seconds): that many failures within that time fire it, at the end of that time at
# the latest. `<Provider>` and `<Function>` stand for each one of the registry.
PROMISES: dict[str, tuple[int, int]] = {
    "<Provider>ProviderFailuresAlarm": (5, 300),  # "5 or more in 5 minutes"
    "<Provider>TokenFailuresAlarm": (1, 300),
    "<Function>ThrottlesAlarm": (1, 300),
    "AuditWriteFailuresAlarm": (1, 60),  # an audit record only in a log line: at once
    "AuditRecordsChangedAlarm": (1, 300),
    "SecretReadFailuresAlarm": (1, 300),
    "WebhooksNotQueuedAlarm": (1, 60),  # a webhook lost until reconciliation
    "WebhooksQueueOutcomeUnknownAlarm": (1, 60),
    "ApplicationsNotRecordedAlarm": (1, 300),
    "WebhookProcessingFailuresAlarm": (10, 900),  # "10 or more in 15 minutes"
    "ConnectFiReconciliationRunFailuresAlarm": (1, 60),  # one failed run
    "ApplicationsNoLongerReconciledAlarm": (1, 3600),
    "WebhookDeadLetterAlarm": (1, 60),  # one webhook dead-lettered (the most its queue holds, a minute)
}
# alarm -> (the most its threshold may be, the longest its period may be)
LIMITS: dict[str, tuple[float, int]] = {
    "Api5xxRateAlarm": (5, 300),  # over 5% of requests answered 5xx
    "ApiLatencyP99Alarm": (15000, 300),  # a p99 over 15 s, below the provider budget (20 s)
    "WebhookQueueAgeAlarm": (7200, 300),  # a webhook waiting two hours
    "WebhookDeadLetterAgeAlarm": (86400, 300),  # a dead letter waiting a day
    "AuditArchiveBehindAlarm": (3600 * 1000, 300),  # the archive an hour behind (milliseconds)
}


def promised(template: dict[str, Any]) -> dict[str, tuple[int, int]]:
    expanded = {}
    for name, promise in PROMISES.items():
        if "<Provider>" in name:
            expanded |= {name.replace("<Provider>", entry.title): promise for entry in PROVIDERS}
        elif "<Function>" in name:
            expanded |= {name.replace("<Function>", entry.logical_id): promise for entry in FUNCTIONS}
        else:
            expanded[name] = promise
    return expanded


def test_each_alarm_fires_on_the_failures_it_promises_as_soon_as_it_promises(deployed):
    alarms = {name: alarm["Properties"] for name, alarm in of_type(deployed, "AWS::CloudWatch::Alarm").items()}
    for name, (failures, within) in promised(deployed).items():
        alarm = alarms[name]
        # Then that many failures in one period fire it, in a period no longer than promised, judged alone
        assert breaches(alarm, [[1.0] * failures]), name
        assert alarm["Period"] <= within, name
        assert alarm["EvaluationPeriods"] == alarm.get("DatapointsToAlarm", 1) == 1, name
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name  # and it pages someone


def test_each_functions_failures_fire_its_alarms_in_two_minutes_of_three_and_a_scheduled_run_at_once(deployed):
    alarms = {name: alarm["Properties"] for name, alarm in of_type(deployed, "AWS::CloudWatch::Alarm").items()}
    for entry in FUNCTIONS:
        events = cfn.functions()[entry.logical_id].properties.get("Events") or {}  # SAM moves schedules out
        scheduled = any(event["Type"] in ("Schedule", "ScheduleV2") for event in events.values())
        for kind in ("Errors", "GatewayFaults"):
            alarm = alarms[f"{entry.logical_id}{kind}Alarm"]
            assert alarm["Period"] == 60, (entry.logical_id, kind)
            if scheduled:  # one failed run of a schedule is worth an alarm
                assert breaches(alarm, [[1.0]]), (entry.logical_id, kind)
            else:  # a failure in two of three minutes, not one alone (a single bad request)
                assert breaches(alarm, [[1.0], [], [1.0]]), (entry.logical_id, kind)
                assert not breaches(alarm, [[], [], [1.0]]), (entry.logical_id, kind)


def test_each_threshold_alarm_fires_no_later_than_its_runbook_says(deployed):
    alarms = {name: alarm["Properties"] for name, alarm in of_type(deployed, "AWS::CloudWatch::Alarm").items()}
    for name, (most, longest) in LIMITS.items():
        alarm = alarms[name]
        assert alarm["Threshold"] <= most, name
        periods = [alarm.get("Period")] + [
            query["MetricStat"]["Period"] for query in alarm.get("Metrics", []) if "MetricStat" in query
        ]
        assert all(period <= longest for period in periods if period is not None), name
    # And every alarm that pages someone has its promise here or its own drill of timing (the missing runs, the
    # dropped runs); the rollback's alarms page no one
    paging = {name for name, alarm in alarms.items() if "AlarmActions" in alarm} - rollback_only(deployed)
    timed_elsewhere = {"ReconcileRunsMissingAlarm", "ReconcileRunsDroppedAlarm", "WebhooksRateLimitedAlarm"}
    functions = {f"{entry.logical_id}{kind}Alarm" for entry in FUNCTIONS for kind in ("Errors", "GatewayFaults")}
    assert paging - set(promised(deployed)) - set(LIMITS) - functions - timed_elsewhere == set()


def test_the_defaults_behind_the_nets_keep_their_promises(deployed):
    parameters = deployed["Parameters"]
    # the reconciliation's silence alarms within an hour or two of the last run, not a day
    assert parameters["ReconcileSilenceSeconds"]["Default"] <= 3600
    # the logs, which hold the only copy of an audit record that could not be written, are kept at least 90 days
    assert parameters["LogRetentionDays"]["Default"] >= 90
    # the audit trail five years and a day, whatever the leap days
    assert parameters["AuditRetentionDays"]["Default"] >= 1828
    resources = deployed["Resources"]
    # a webhook outlives a connectFi outage of minutes: five receives (30, 60, 120 and 240 s apart) before its letter
    assert resources["WebhookQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 5
    # a reconciliation run has its 90 s of checks before it stops taking applications, 30 s before its timeout
    assert resources["ConnectFiReconcilerFunction"]["Properties"]["Timeout"] >= 120
