"""A batch of webhooks and its invocation's time: a batch that fits is tried whole; the records a batch has no time
left for (connectFi slow) are handed back untried, visible again at once, and never taken for connectFi failing."""

from __future__ import annotations

import json

from local.functions import LambdaContext, load_handler
from local.sqs_poller import SqsPoller, event_source_options
from project import template as cfn
from tests.integration.routes.test_connectfi import LOGIN, STATUS, application, login_reply
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.webhooks import PROCESSOR, deliver, queue_source, webhook

INVOCATION_SECONDS = 8


def _batch(gateway, sqs, url: str, status_seconds: float, count: int) -> list[dict]:
    """`count` webhooks received as the event source hands them to the processor (hidden from other receives
    meanwhile), connectFi answering each status call after `status_seconds`."""
    gateway.provider.reply(LOGIN, login_reply())
    answer = json.dumps(application("completed", "Approved")).encode()
    gateway.provider.reply(STATUS, *[Reply(200, answer, delay=status_seconds)] * count)
    for number in range(count):
        deliver(gateway, webhook() | {"requestId": f"batch-{number}"})
    poller = SqsPoller(
        sqs, cfn.functions()[PROCESSOR], url, gateway.physical_ids["WebhookQueue.Arn"], invoke=None,
        **event_source_options(queue_source()),
    )  # fmt: skip
    messages: list[dict] = []
    while len(messages) < count:
        messages += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, AttributeNames=["All"]
        ).get("Messages", [])
    return [poller._record(message) for message in messages]


def _process(records: list[dict]) -> dict:
    handler = load_handler(cfn.functions()[PROCESSOR])
    return handler({"Records": records}, LambdaContext(function_name=PROCESSOR, timeout_seconds=INVOCATION_SECONDS))


def test_a_batch_whose_records_fit_its_invocation_is_tried_whole(gateway, queues):
    # Given six webhooks, connectFi taking 0.2 s a status call, an invocation of 8 s
    sqs, url, _ = queues
    records = _batch(gateway, sqs, url, status_seconds=0.2, count=6)

    # When the processor gets them in one batch, Then each is confirmed, none handed back
    assert _process(records) == {"batchItemFailures": []}
    assert len(gateway.provider.requests(STATUS)) == 6


def test_records_a_batch_has_no_time_left_for_come_back_at_once_untried_and_are_not_counted_as_connectfi_failing(
    gateway, queues, logs
):
    # Given six webhooks, connectFi taking 1 s a status call, an invocation of 8 s
    sqs, url, _ = queues
    records = _batch(gateway, sqs, url, status_seconds=1.0, count=6)

    # When the processor gets them in one batch
    result = _process(records)

    # Then it started a record only while more time was left than the slowest one took and its margins (3 of 6,
    # 2 on a slow machine), each confirmed...
    tried = len(gateway.provider.requests(STATUS))
    assert 2 <= tried <= 3
    assert [failure["itemIdentifier"] for failure in result["batchItemFailures"]] == [
        record["messageId"] for record in records[tried:]
    ]
    # ...and the others are visible again at once, untried: no failure counted, connectFi's circuit untouched
    written = logs()
    assert not [metric for metric in emf.metrics(written) if metric.name == "RecordFailures"]
    (left,) = emf.log_lines(written, "records left for another invocation: too little time left")
    assert left["records"] == 6 - tried
    from kyc_gateway.providers.connectfi.client import ConnectFiClient

    assert ConnectFiClient.instance().http.circuit._failures == 0
    back = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert sorted(message["MessageId"] for message in back) == sorted(r["messageId"] for r in records[tried:])
