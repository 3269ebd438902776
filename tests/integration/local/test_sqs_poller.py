"""The local event source mapping: real SQS batches, partial batch failures, dead-lettering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.functions import invoke, load_handler
from local.sqs_poller import SqsPoller
from project import template as cfn

SQS_FUNCTION = cfn.FunctionSpec(
    "TestConsumerFunction",
    Path(__file__).resolve().parents[2] / "support" / "sqs_function",
    "app",
    "lambda_handler",
    {},
)
SAM_SQS = json.loads((Path(__file__).resolve().parents[2] / "support" / "sam_sqs_event.json").read_text())


@pytest.fixture
def queues(aws):
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="consumer-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    queue = sqs.create_queue(QueueName="consumer", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"})
    arn = sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    received = load_handler(SQS_FUNCTION).__globals__["RECEIVED"]
    received.clear()
    return sqs, queue["QueueUrl"], arn, dlq, received


def poller(sqs, url, arn, *, batch_size=10, report=True):
    return SqsPoller(
        sqs,
        SQS_FUNCTION,
        url,
        arn,
        batch_size=batch_size,
        report_batch_item_failures=report,
        invoke=invoke,
        retry_delay=0,
    )


def queue_depth(sqs, url):
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_records_have_the_shape_of_lambdas_sqs_events(queues):
    sqs, url, arn, _, _received = queues
    sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    captured = []

    def capture(spec, event):
        captured.append(event)
        return {"batchItemFailures": []}

    SqsPoller(sqs, SQS_FUNCTION, url, arn, batch_size=10, report_batch_item_failures=True, invoke=capture).poll_once()

    record = captured[0]["Records"][0]
    assert set(SAM_SQS["Records"][0]) <= set(record)
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_batch_size_is_honoured(queues):
    sqs, url, arn, _, received = queues
    for number in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{number}")

    poller(sqs, url, arn, batch_size=2).poll_once()

    assert len(received[0]) == 2


def test_processed_records_are_deleted_and_failed_ones_return_then_reach_the_dlq(queues):
    sqs, url, arn, dlq, received = queues
    sqs.send_message(QueueUrl=url, MessageBody="good")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    consumer = poller(sqs, url, arn)

    for _ in range(4):
        consumer.poll_once()

    assert [body for batch in received for body in batch].count("good") == 1
    assert [body for batch in received for body in batch].count("poison") == 2  # maxReceiveCount
    assert queue_depth(sqs, url) == 0
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in dead] == ["poison"]


def test_a_crashing_invocation_returns_the_whole_batch(queues):
    sqs, url, arn, _, _received = queues
    sqs.send_message(QueueUrl=url, MessageBody="crash")

    consumer = poller(sqs, url, arn)
    consumer.poll_once()

    assert queue_depth(sqs, url) == 1


def test_without_report_batch_item_failures_a_returned_list_is_ignored(queues):
    sqs, url, arn, _, _received = queues
    sqs.send_message(QueueUrl=url, MessageBody="poison")

    poller(sqs, url, arn, report=False).poll_once()

    assert queue_depth(sqs, url) == 0


def test_a_visibility_the_function_sets_is_obeyed_while_other_failures_come_back_at_once(queues):
    sqs, url, arn, _, received = queues
    # Given one record the function fails plainly and one it fails after asking for it back in 30 s
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="later:30")
    consumer = poller(sqs, url, arn)

    # When the poller runs the batch, then polls twice more
    for _ in range(3):
        consumer.poll_once()

    # Then the plain failure came back at once (the local retry delay) and went on to the DLQ; the delayed one did
    # not come back: it waits, still queued
    bodies = [body for batch in received for body in batch]
    assert bodies.count("poison") == 2
    assert bodies.count("later:30") == 1
    assert queue_depth(sqs, url) == 1
