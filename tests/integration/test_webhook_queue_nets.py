"""The webhook queue's nets, on the CloudFormation AWS deploys (SAM's own translator): the age alarm fires before a
webhook expires and never while it is retried, the outage a webhook outlasts is the one operators read, and the
consumer runs a bounded number of instances, each within the visibility timeout."""

from __future__ import annotations

import re

from project import template as cfn
from tests.integration import test_deployed_template
from tests.integration.test_deployed_template import dead_letter_alarm, of_type, referenced, webhook_queue

deployed = test_deployed_template.deployed  # the template as deployed, for dev and for prod (a fixture)


def test_a_webhook_queue_nobody_takes_from_is_alarmed_before_its_webhooks_expire_never_while_they_are_retried(
    deployed,
):
    from kyc_gateway.providers.connectfi.webhooks import MAX_RETRY_DELAY_SECONDS

    # Given the queue the processor's event source reads, and the alarm on the age of its oldest webhook
    mapping, queue_id = webhook_queue(deployed)
    queue = deployed["Resources"][queue_id]["Properties"]
    its_name = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    (alarm,) = [
        alarm["Properties"]
        for alarm in of_type(deployed, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
        and alarm["Properties"]["Dimensions"] == its_name
    ]
    processor = deployed["Resources"][mapping["Properties"]["FunctionName"]["Ref"].removesuffix("Aliaslive")]

    # When a webhook is retried as long as it can be: each try runs to the function's timeout, and each but the
    # last waits the longest retry delay or the visibility timeout before the next
    tries = queue["RedrivePolicy"]["maxReceiveCount"]
    longest_wait = max(MAX_RETRY_DELAY_SECONDS, queue["VisibilityTimeout"])
    retried_for = (tries - 1) * longest_wait + tries * processor["Properties"]["Timeout"]

    # Then the alarm does not fire for that, and fires (the oldest one's age, notified) before the queue drops it
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
    assert retried_for < alarm["Threshold"]
    assert alarm["Threshold"] + alarm["Period"] * alarm["EvaluationPeriods"] < queue["MessageRetentionPeriod"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_outage_a_webhook_outlasts_is_the_one_the_runbook_and_alarm_tell(deployed):
    from kyc_gateway.providers.connectfi.webhooks import retry_delay

    # Given the queue the processor reads and its retries as deployed: each failure because connectFi did waits the
    # retry delay of its receive (the default base, a closed circuit), and the last one dead-letters the record
    _, queue_id = webhook_queue(deployed)
    queue = deployed["Resources"][queue_id]["Properties"]
    tries = queue["RedrivePolicy"]["maxReceiveCount"]
    base = deployed["Parameters"]["WebhookRetryBaseSeconds"]["Default"]
    absorbed_minutes = sum(retry_delay(receive, 0, base) for receive in range(1, tries)) / 60
    _, alarm = dead_letter_alarm(deployed)

    # Then what operators and connectFi's page read is what the queue does: the receives, and the outage they span
    ordinal = {3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth", 9: "ninth", 10: "tenth"}
    runbook = (cfn.ROOT / "docs" / "operations.md").read_text()
    assert f"of which {absorbed_minutes:g} absorb an outage" in runbook
    assert re.search(rf"the {ordinal[tries]} failure\s+dead-letters it", runbook)
    assert f"a record failed {tries} receives" in runbook
    assert f"after {tries} receives" in (cfn.ROOT / "docs" / "providers" / "connectfi.md").read_text()
    assert f"failed processing {tries} times" in alarm["AlarmDescription"]


def test_the_webhook_queue_consumer_runs_a_bounded_number_of_instances_each_within_the_visibility_timeout(deployed):
    mapping, _ = webhook_queue(deployed)
    bound = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    parameter = deployed["Parameters"][bound["Ref"]]
    # Lambda takes 2 to 1000 for an SQS event source's maximum concurrency
    assert (parameter["Type"], parameter["MinValue"], parameter["MaxValue"]) == ("Number", 2, 1000)
    assert 2 <= parameter["Default"] <= 1000
    # A record in flight stays hidden from other consumers for at least six of its function's timeouts (Lambda's
    # advice), so a batch that waited for a slow connectFi is not received twice
    resources = deployed["Resources"]
    (queue,) = referenced(mapping["Properties"]["EventSourceArn"])
    alias = resources[mapping["Properties"]["FunctionName"]["Ref"]]
    timeout = resources[alias["Properties"]["FunctionName"]["Ref"]]["Properties"]["Timeout"]
    assert resources[queue]["Properties"]["VisibilityTimeout"] >= 6 * timeout
