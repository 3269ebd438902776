"""Fixtures of the connectFi webhook pipeline: its queues and the status-change announcements."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def queues(aws, physical_ids):
    sqs = aws.client("sqs")
    return sqs, physical_ids["WebhookQueue"], physical_ids["WebhookDeadLetterQueue"]


@pytest.fixture
def announcements(aws):
    """ApplicationStatusChanged events, caught by a rule on the default bus into a queue."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="announcements")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="catch", EventPattern=json.dumps({"source": ["kyc-gateway.connectfi"]}))
    events.put_targets(Rule="catch", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received
