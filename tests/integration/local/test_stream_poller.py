"""The local DynamoDB stream event source: the table's changes in order, in batches, and after a failure reported the
stream handed on again from that change, none skipped (the audit archive's `MaximumRetryAttempts: -1`)."""

from __future__ import annotations

from typing import Any

from local.aws_resources import REGION
from local.stream_poller import StreamPoller
from project import template as cfn

ARCHIVER = cfn.functions()["AuditArchiveFunction"]


def test_a_change_reported_failed_is_handed_on_again_with_the_later_ones_and_none_is_skipped(aws, physical_ids):
    # Given three records written to the audit table, and a function that fails the second change once
    table = aws.resource("dynamodb").Table(physical_ids["AuditTable"])
    streams = aws.client("dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
    handed: list[list[str]] = []

    def invoke(spec: cfn.FunctionSpec, event: dict[str, Any]) -> dict[str, Any]:
        assert spec is ARCHIVER
        ats = [record["dynamodb"]["Keys"]["at"]["S"] for record in event["Records"]]
        handed.append(ats)
        if len(handed) == 1:
            second = event["Records"][1]["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": second}]}
        return {"batchItemFailures": []}

    # from LATEST: the test session's stream holds earlier tests' changes
    arn = physical_ids["AuditTable.StreamArn"]
    poller = StreamPoller(
        streams, ARCHIVER, arn, batch_size=10, starting_position="LATEST", invoke=invoke, retry_delay=0
    )
    assert poller.poll_once() == 0
    for number in (1, 2, 3):
        table.put_item(Item={"fingerprint": "f", "at": f"t{number}"})

    # When the poller runs until the stream has nothing new
    while poller.poll_once():
        pass

    # Then the batch came whole, then again from the failed change, in order, and nothing after
    assert handed == [["t1", "t2", "t3"], ["t2", "t3"]]
    assert poller.poll_once() == 0
    # And a batch larger than the event source's size is cut into batches of it
    poller.batch_size = 2
    for number in (4, 5, 6):
        table.put_item(Item={"fingerprint": "f", "at": f"t{number}"})
    while poller.poll_once():
        pass
    assert handed[2:] == [["t4", "t5"], ["t6"]]
