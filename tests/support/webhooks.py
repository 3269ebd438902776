"""connectFi webhook deliveries and processing, driven through the real handlers (receiver, processor, reader)."""

from __future__ import annotations

import json

from local.api_events import proxy_event
from local.functions import invoke
from local.sqs_poller import SqsPoller, event_source_options
from project import template as cfn
from tests.conftest import SECRETS
from tests.integration.routes.test_connectfi import application

RECEIVER = "ConnectFiWebhookFunction"
PROCESSOR = "ConnectFiWebhookProcessorFunction"
READER = "ConnectFiApplicationFunction"
TOKEN = SECRETS["connectfiwebhook"]["token"]


def webhook(status: str = "completed", outcome: str | None = "Approved") -> dict:
    return application(status, outcome)


def deliver(gateway, body, token: str = TOKEN, raw: str | None = None):
    spec = cfn.functions()[RECEIVER]
    event = proxy_event(
        "POST",
        f"/connectfi/webhooks/{token}",
        resource="/connectfi/webhooks/{token}",
        headers=[("Content-Type", "application/json")],
        body=raw if raw is not None else json.dumps(body),
        path_parameters={"token": token},
    )
    return invoke(spec, event)


def queued(sqs, url) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [message["Body"] for message in messages]


def queue_source() -> dict:
    """The processor's SQS event source as the template declares it (its batch size, its response types)."""
    (source,) = [
        event["Properties"]
        for event in cfn.functions()[PROCESSOR].properties["Events"].values()
        if event["Type"] == "SQS"
    ]
    return source


def max_receives() -> int:
    """The webhook queue's maxReceiveCount: the receive on which a failed record is dead-lettered."""
    return int(cfn.resources()["WebhookQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])


def process_queue(gateway, sqs, url, rounds: int = 1) -> None:
    """Poll the queue `rounds` times as Lambda's event source mapping would, with the template's settings."""
    queue_arn = gateway.physical_ids["WebhookQueue.Arn"]
    poller = SqsPoller(
        sqs,
        cfn.functions()[PROCESSOR],
        url,
        queue_arn,
        **event_source_options(queue_source()),
        invoke=invoke,
        retry_delay=0,
    )
    for _ in range(rounds):
        poller.poll_once()


def read_application(application_id: str):
    event = proxy_event(
        "GET",
        f"/connectfi/applications/{application_id}",
        resource="/connectfi/applications/{applicationId}",
        path_parameters={"applicationId": application_id},
    )
    return invoke(cfn.functions()[READER], event)
