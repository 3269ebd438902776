"""A batch of webhooks longer than its invocation: the records it has no time for are handed back untried, at once,
and never taken for connectFi failing."""

from __future__ import annotations

import json

from local.functions import LambdaContext, load_handler
from local.sqs_poller import SqsPoller, event_source_options
from project import template as cfn
from tests.integration.routes.test_connectfi import LOGIN, STATUS, application, login_reply
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.webhooks import PROCESSOR, deliver, process_queue, queue_source, webhook

STATUS_SECONDS = 0.9  # how long connectFi takes to answer each status call here


def _received(gateway, sqs, url: str, count: int) -> list[dict]:
    """`count` records as the event source hands them to the processor, hidden from other receives meanwhile."""
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


def test_records_a_batch_has_no_time_for_come_back_at_once_untried_and_are_not_counted_as_connectfi_failing(
    gateway, queues, monkeypatch, logs
):
    # Given six webhooks, connectFi taking 0.9 s a status call within a budget of 1 s, and an invocation of 4 s
    sqs, url, _ = queues
    monkeypatch.setenv("PROVIDER_BUDGET_SECONDS", "1")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    answer = json.dumps(application("completed", "Approved")).encode()
    gateway.provider.reply(STATUS, *[Reply(200, answer, delay=STATUS_SECONDS)] * 6)
    for number in range(6):
        deliver(gateway, webhook() | {"requestId": f"batch-{number}"})
    records = _received(gateway, sqs, url, 6)

    # When the processor gets them in one batch
    handler = load_handler(cfn.functions()[PROCESSOR])
    result = handler({"Records": records}, LambdaContext(function_name=PROCESSOR, timeout_seconds=4))

    # Then it started only those a whole status call had time for (the first always), each confirmed...
    tried = len(gateway.provider.requests(STATUS))
    assert 1 <= tried <= 2
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

    # And the next invocations confirm them all
    process_queue(gateway, sqs, url, rounds=3)
    assert len(gateway.provider.requests(STATUS)) == 6
