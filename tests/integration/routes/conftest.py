"""Fixtures of the routes' tests: the connectFi webhook pipeline's queues, its applications store and status-change
announcements, and a gateway whose Signzy logs in and repushes."""

from __future__ import annotations

import json

import pytest

from tests.integration.routes.test_signzy_repush import LOGIN, REPUSH, SUCCESS
from tests.integration.routes.test_signzy_repush import login_reply as signzy_login


@pytest.fixture
def queues(aws, physical_ids):
    sqs = aws.client("sqs")
    return sqs, physical_ids["WebhookQueue"], physical_ids["WebhookDeadLetterQueue"]


@pytest.fixture
def store(gateway):
    """The applications module, configured as the functions are (its table, its event bus)."""
    from kyc_gateway.providers.connectfi import applications

    return applications


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


@pytest.fixture
def signzy(gateway):
    """The gateway, with Signzy logging in and answering every repush with success."""
    gateway.provider.reply(LOGIN, signzy_login("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)
    return gateway
