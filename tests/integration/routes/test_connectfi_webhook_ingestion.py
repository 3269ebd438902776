"""connectFi webhook ingestion: the token first, then the body as the processor will read it, then the queue."""

from __future__ import annotations

import json
import re

import pytest

from local.functions import invoke
from project import template as cfn
from tests.support.webhooks import (
    PROCESSOR,
    RECEIVER,
    TOKEN,
    deliver,
    queued,
    webhook,
)

# --- receiver -------------------------------------------------------------------------------------------------------


def test_a_webhook_with_the_right_token_is_queued_raw_and_answered_202(gateway, queues):
    sqs, url, _ = queues
    raw = json.dumps(webhook(), indent=2)

    answer = deliver(gateway, None, raw=raw)

    assert answer["statusCode"] == 202
    assert json.loads(answer["body"]) == {"status": "accepted"}
    assert answer["headers"]["X-Correlation-Id"]
    assert queued(sqs, url) == [raw]


@pytest.mark.parametrize("token", ["wrong-token", "", TOKEN[:-1], TOKEN + "x"])
def test_a_wrong_token_is_401_and_nothing_is_queued(gateway, queues, token):
    sqs, url, _ = queues

    answer = deliver(gateway, webhook(), token=token)

    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_webhook_token"
    assert queued(sqs, url) == []


DEEP = "[" * 10_000 + "]" * 10_000
BAD_BODIES = [
    ("not json", 400),
    ("[1, 2]", 400),
    ("", 400),
    ('{"data": {}}', 400),
    (DEEP, 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": NaN}', 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1", "status": "\\ud800"}}', 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": 1e400}', 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": 1' + "0" * 400 + "}", 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1", "customerId": "c_2"}}', 400),
    ("{" + '"a": "' + "x" * 300_000 + '"}', 413),
]


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES)
def test_a_stranger_gets_401_whatever_the_body_and_learns_nothing_of_the_schema(gateway, queues, raw, status):
    sqs, url, _ = queues

    answer = deliver(gateway, None, raw=raw, token="guess")

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"], error["details"]) == (401, "invalid_webhook_token", [])
    assert queued(sqs, url) == []


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES)
def test_bad_bodies_with_the_right_token_are_refused_and_nothing_is_queued(gateway, queues, raw, status):
    sqs, url, _ = queues

    answer = deliver(gateway, None, raw=raw)

    assert answer["statusCode"] == status
    assert queued(sqs, url) == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": NaN}',
        '{"data": {"applicationId": "iapp_1", "customerId": "c_1", "status": "\\udfff"}}',
        DEEP,
    ],
)
def test_the_processor_refuses_what_ingestion_refuses(gateway, raw):
    result = invoke(cfn.functions()[PROCESSOR], {"Records": [{"messageId": "m1", "body": raw}]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert gateway.provider.requests() == []


def test_any_content_type_is_accepted_from_connectfi(gateway, queues):
    from local.api_events import proxy_event

    sqs, url, _ = queues
    event = proxy_event(
        "POST",
        f"/connectfi/webhooks/{TOKEN}",
        resource="/connectfi/webhooks/{token}",
        headers=[("Content-Type", "text/plain")],
        body=json.dumps(webhook()),
        path_parameters={"token": TOKEN},
    )

    assert invoke(cfn.functions()[RECEIVER], event)["statusCode"] == 202
    assert len(queued(sqs, url)) == 1


class StrictQueue:
    """SQS's own rule, which the emulator does not apply: a message may not carry these characters."""

    NOT_ALLOWED = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

    def __init__(self, sqs) -> None:
        self.sqs = sqs

    def send_message(self, **arguments):
        from botocore.exceptions import ClientError

        if self.NOT_ALLOWED.search(arguments["MessageBody"]):
            error = {"Code": "InvalidMessageContents", "Message": "Invalid characters"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendMessage")
        return self.sqs.send_message(**arguments)


def test_characters_sqs_cannot_carry_are_escaped_not_dropped(gateway, queues, monkeypatch):
    from kyc_gateway import aws

    sqs, url, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: StrictQueue(sqs))
    claim = webhook()
    claim["data"]["note"] = "odd \ufffe character, and a name: Zoë"

    answer = deliver(gateway, None, raw=json.dumps(claim, ensure_ascii=False))

    assert answer["statusCode"] == 202
    (body,) = queued(sqs, url)
    assert json.loads(body) == claim
    assert "Zoë" in body  # only the refused character is escaped: the body does not grow six-fold


def test_a_queue_refusing_the_message_for_good_is_not_retried(gateway, queues, monkeypatch):
    from kyc_gateway import aws
    from kyc_gateway.providers.connectfi import webhooks

    sqs, _, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: StrictQueue(sqs))
    monkeypatch.setattr(webhooks, "_sqs_text", lambda text: text)  # as if escaping were forgotten
    claim = webhook()
    claim["data"]["note"] = "\ufffe"

    answer = deliver(gateway, None, raw=json.dumps(claim, ensure_ascii=False))

    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (503, "webhook_not_queued")


def read_timeout():
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url="http://sqs")  # sent, answer lost: it may have been queued


def unreachable():
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://sqs")  # never sent


class FlakyQueue:
    """The webhook queue, failing its first `failures` sends with `error()`."""

    def __init__(self, sqs, failures: int, error=read_timeout) -> None:
        self.sqs, self.failures, self.attempts, self.error = sqs, failures, 0, error

    def send_message(self, **arguments):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error()
        return self.sqs.send_message(**arguments)


def test_a_slow_queue_is_retried_and_the_delivery_kept(gateway, queues, monkeypatch):
    from kyc_gateway import aws

    sqs, url, _ = queues
    flaky = FlakyQueue(sqs, failures=2)
    monkeypatch.setattr(aws, "quick_client", lambda service: flaky)

    answer = deliver(gateway, webhook())

    assert answer["statusCode"] == 202
    assert flaky.attempts == 3
    assert len(queued(sqs, url)) == 1


def test_a_queue_that_cannot_be_reached_is_503_not_queued_and_counted(gateway, queues, monkeypatch, logs):
    from kyc_gateway import aws
    from kyc_gateway.providers.connectfi import webhooks

    sqs, _, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: FlakyQueue(sqs, failures=1000, error=unreachable))
    monkeypatch.setattr(webhooks, "_ENQUEUE_BUDGET_SECONDS", 0.3)

    answer = deliver(gateway, webhook())

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (503, "webhook_not_queued")
    written = logs()
    assert '"WebhooksNotQueued":[1.0]' in written.replace(" ", "")
    assert "WebhooksQueueOutcomeUnknown" not in written
    assert TOKEN not in written


def test_a_queue_whose_answers_are_lost_is_503_outcome_unknown_not_not_queued(gateway, queues, monkeypatch, logs):
    from kyc_gateway import aws
    from kyc_gateway.providers.connectfi import webhooks

    # Given a queue that takes each message but whose answer never comes back (a slow SQS)
    sqs, url, _ = queues

    class Unanswered:
        def send_message(self, **arguments):
            sqs.send_message(**arguments)
            raise read_timeout()

    monkeypatch.setattr(aws, "quick_client", lambda service: Unanswered())
    monkeypatch.setattr(webhooks, "_ENQUEUE_BUDGET_SECONDS", 0.3)

    answer = deliver(gateway, webhook())

    # Then the answer says what is known: the delivery may be queued (it is, several times; processed once)
    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (503, "webhook_queue_outcome_unknown")
    assert len(queued(sqs, url)) >= 1
    written = logs()
    assert '"WebhooksQueueOutcomeUnknown":[1.0]' in written.replace(" ", "")
    assert '"WebhooksNotQueued"' not in written
