"""connectFi webhook processing when connectFi fails: when the failed record comes back (the visibility the processor
sets on it), and when it keeps the queue's own; records the processor refuses; the stored-state route's refusals."""

from __future__ import annotations

import json

import pytest

from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import APPLICATION, LOGIN, STATUS, application, login_reply
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.webhooks import PROCESSOR, max_receives, read_application, webhook

CONNECTFI_FAILING = Reply(500, b'{"code": "internal"}')  # on every attempt (a status read is retried)
RETRIED_LATER = "record retried later"


@pytest.fixture(autouse=True)
def sleeps_pass_at_once(clock, monkeypatch):
    """The status read's retries wait for nothing (the gateway's clock moves instead)."""
    from kyc_gateway import clock as gateway_clock

    monkeypatch.setattr(gateway_clock, "sleep", clock.advance)


def received(sqs, url, receives: int) -> dict:
    """A webhook's record as the processor gets it on its `receives`-th receive. It was received visible at once
    again (visibility 0): it stays visible unless the processor sets its visibility."""
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(webhook()))
    (message,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": str(receives)},
    }


def process(record: dict) -> dict:
    return invoke(cfn.functions()[PROCESSOR], {"Records": [record]})


def visible(sqs, url) -> bool:
    return bool(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages"))


@pytest.mark.parametrize("receives", sorted({1, 2, max_receives() - 1}))
def test_a_record_connectfi_failed_on_comes_back_after_the_base_delay_doubled_with_each_receive(
    gateway, queues, logs, receives
):
    # Given connectFi failing, and a record on a receive before the queue's last (its maxReceiveCount)
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)

    # When the processor fails on it
    result = process(received(sqs, url, receives))

    # Then it goes back to the queue, hidden for the template's WEBHOOK_RETRY_BASE_SECONDS x 2^(receive - 1)
    assert len(result["batchItemFailures"]) == 1
    assert not visible(sqs, url)
    (line,) = log_lines(logs(), RETRIED_LATER)
    base = float(cfn.function_environment(PROCESSOR, gateway.physical_ids)["WEBHOOK_RETRY_BASE_SECONDS"])
    assert (line["provider"], line["delay_seconds"]) == ("connectfi", base * 2 ** (receives - 1))


def test_a_record_is_never_retried_before_connectfis_circuit_closes(gateway, queues, logs, monkeypatch, stopped_clock):
    # Given a circuit that one failed call opens for 15 s, and a retry delay of 1 s (the clock standing still, so
    # that the circuit has 15 s to go when the retry is planned, however long the call took)
    sqs, url, _ = queues
    monkeypatch.setenv("PROVIDER_CIRCUIT_FAILURES", "1")
    monkeypatch.setenv("PROVIDER_CIRCUIT_COOLDOWN_SECONDS", "15")
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "1")
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)

    # When connectFi fails on a record (and its circuit opens)
    process(received(sqs, url, 1))

    # Then the record comes back once the circuit has closed (with a second to spare), not after 1 s
    (line,) = log_lines(logs(), RETRIED_LATER)
    assert line["delay_seconds"] == 16
    assert not visible(sqs, url)


def test_a_record_on_its_last_receive_is_left_to_the_queue_to_dead_letter(gateway, queues, logs):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)

    result = process(received(sqs, url, max_receives()))

    assert len(result["batchItemFailures"]) == 1
    assert visible(sqs, url)  # its visibility as it was: nothing delays its dead-lettering (and its alarm)
    assert log_lines(logs(), RETRIED_LATER) == []


def test_a_record_that_failed_for_another_reason_than_connectfi_keeps_the_queues_timeout(gateway, queues, logs):
    sqs, url, _ = queues
    record = received(sqs, url, 1)
    record["body"] = "not a webhook"

    # When a record fails without connectFi failing (here: a record that is no webhook)
    result = process(record)

    # Then it comes back when the queue's timeout says (here at once), and connectFi was not asked
    assert len(result["batchItemFailures"]) == 1
    assert visible(sqs, url)
    written = logs()
    assert log_lines(written, RETRIED_LATER) == log_lines(written, "retry not planned") == []
    assert gateway.provider.requests(STATUS) == []


@pytest.mark.parametrize("record", [{"messageId": "m1"}, {"messageId": "m1", "body": None}])
def test_a_record_without_a_body_is_refused_as_poison(gateway, logs, record):
    assert process(record) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    (line,) = [json.loads(line) for line in logs().splitlines() if '"request completed"' in line]
    assert line["code"] == "poison_message"
    assert gateway.provider.requests() == []


def test_an_answer_about_another_application_is_connectfi_failing_and_stores_nothing(gateway, queues, logs):
    # Given connectFi answering the webhook's status read about another application
    sqs, url, _ = queues
    other = application("completed", "Approved")
    other["data"]["applicationId"] = "iapp_another"
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, other)

    result = process(received(sqs, url, 1))

    # Then the record fails as connectFi's failure (retried later), and neither application is stored
    assert len(result["batchItemFailures"]) == 1
    (line,) = log_lines(logs(), RETRIED_LATER)
    assert line["delay_seconds"] == 30
    assert read_application(APPLICATION)["statusCode"] == 404
    assert read_application("iapp_another")["statusCode"] == 404


def test_an_application_with_no_stored_status_is_404_saying_so(gateway):
    answer = read_application(APPLICATION)

    assert answer["statusCode"] == 404
    error = json.loads(answer["body"])["error"]
    assert (error["code"], error["message"]) == ("application_not_found", "No status is stored for this application")


@pytest.mark.parametrize("attributes", [None, {}, {"ApproximateReceiveCount": "several"}])
def test_a_record_whose_receive_count_cannot_be_read_is_taken_as_on_its_first_receive(
    gateway, queues, logs, attributes
):
    # Given connectFi failing, and a record whose receive count is missing or unreadable
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)
    record = received(sqs, url, 1)
    record.pop("attributes")
    if attributes is not None:
        record["attributes"] = attributes

    # When the processor fails on it, Then it comes back after the first receive's delay
    assert len(process(record)["batchItemFailures"]) == 1
    (line,) = log_lines(logs(), RETRIED_LATER)
    base = float(cfn.function_environment(PROCESSOR, gateway.physical_ids)["WEBHOOK_RETRY_BASE_SECONDS"])
    assert line["delay_seconds"] == base


def test_a_retry_sqs_will_not_plan_leaves_the_queues_timeout_and_says_why(gateway, queues, logs):
    # Given connectFi failing, and a record whose receipt handle SQS does not know (its visibility cannot be set)
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, CONNECTFI_FAILING)
    record = received(sqs, url, 1) | {"receiptHandle": "no-such-receipt"}

    # When the processor fails on it, Then the record still goes back (after the queue's own timeout), and the log
    # says which error kept the retry from being planned
    assert process(record)["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    written = logs()
    assert log_lines(written, RETRIED_LATER) == []
    (line,) = log_lines(written, "retry not planned")
    assert (line["level"], line["error"]) == ("WARNING", "ReceiptHandleIsInvalid")
