"""`make redrive ENV=dev|prod`: move every message of the connectFi webhook dead-letter queue back to its queue.

Deployed, SQS's own message-move task does it (ENV=dev|prod, AWS_ENDPOINT_URL unset). Against an emulator
(AWS_ENDPOINT_URL set, e.g. the local stack's http://127.0.0.1:4566, where ENV=local is the default and the only
one taken), which has no move task, each message is received, sent to the source queue, then deleted from the
dead-letter queue: sent before deleted, so none is lost; a message sent but not deleted (the script stopped between
the two) stays in the dead-letter queue, and a second run sends it again, which the processor's deduplication
absorbs.

Either way only the messages SQS hands out move: one someone received and hides (a look with `aws sqs
receive-message`, until its visibility timeout ends) stays dead-lettered. The redrive then says how many and exits 1:
run it again once they are visible.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from operations.samconfig import deployment

ENVIRONMENTS = ("local", "dev", "prod")
# A batch sent back by hand stays within this many bytes of bodies and attributes: SQS's limit for a whole batch
# (1 MiB since 2025, 256 KiB before; the webhook route takes bodies of 256 KiB at most, so one always fits)
BATCH_BYTES = 256 * 1024
_UNSUPPORTED = {"UnsupportedOperation", "InvalidAction", "UnknownOperationException", "NotImplemented"}


def queue_names(environment: str) -> tuple[str, str]:
    """(source queue, dead-letter queue) of the template's connectFi webhook queues in `environment`."""
    source = f"kyc-gateway-{environment}-connectfi-webhooks"
    return source, f"{source}-dlq"


class LeftInFlight(RuntimeError):
    """The redrive ended with messages still in the dead-letter queue, not visible (received by someone, until
    their visibility timeout ends): they were not moved."""

    def __init__(self, moved: int, in_flight: int) -> None:
        super().__init__(
            f"{in_flight} message(s) stay in the dead-letter queue, not visible (received by someone, e.g. a look "
            "with receive-message, until their visibility timeout ends), so not moved: run the redrive again once "
            "they are visible"
        )
        self.moved, self.in_flight = moved, in_flight


def redrive(sqs: Any, environment: str, *, by_hand: bool, poll_seconds: float = 2.0) -> int:
    """Move every dead-lettered message back; the number moved. Raises LeftInFlight, with the number moved, when
    messages not visible were left behind (SQS's approximate count, read once the move is over)."""
    source, dead = (sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in queue_names(environment))
    if sum(_count(sqs, dead)) == 0:
        return 0
    moved = None
    if not by_hand:
        try:
            moved = _move_task(sqs, dead, source, poll_seconds)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _UNSUPPORTED:
                raise
        except NotImplementedError:
            pass
    if moved is None:
        moved = _move_by_hand(sqs, dead, source)
    _, in_flight = _count(sqs, dead)
    if in_flight:
        raise LeftInFlight(moved, in_flight)
    return moved


def _move_task(sqs: Any, dead: str, source: str, poll_seconds: float) -> int:
    dead_arn, source_arn = (_arn(sqs, url) for url in (dead, source))
    sqs.start_message_move_task(SourceArn=dead_arn, DestinationArn=source_arn)
    while True:
        (task,) = sqs.list_message_move_tasks(SourceArn=dead_arn, MaxResults=1)["Results"]
        if task["Status"] == "COMPLETED":
            return int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if task["Status"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"the message move task ended {task['Status']}: {task.get('FailureReason', '')}")
        time.sleep(poll_seconds)


def _move_by_hand(sqs: Any, dead: str, source: str) -> int:
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dead, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return moved
        for batch in _within_batch_limit(messages):
            moved += _send_back(sqs, dead, source, batch)


def _within_batch_limit(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The messages in batches whose bodies and attributes together stay within BATCH_BYTES (SQS refuses a larger
    batch whole), in order; a message alone is always within it, being a message SQS took."""
    batches: list[list[dict[str, Any]]] = []
    size = 0
    for message in messages:
        own = _size_of(message)
        if not batches or size + own > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(message)
        size += own
    return batches


def _size_of(message: dict[str, Any]) -> int:
    """What SQS counts of a message toward a batch's size: its body, and each attribute's name, type and value."""
    size = len(message["Body"].encode())
    for name, attribute in message.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue")
        value = value.encode() if value is not None else attribute.get("BinaryValue", b"")
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(value)
    return size


def _send_back(sqs: Any, dead: str, source: str, messages: list[dict[str, Any]]) -> int:
    """Send `messages` to the webhook queue, then delete from the dead-letter queue those it took: how many moved."""
    entries = [
        {"Id": str(index), "MessageBody": message["Body"]}
        | ({"MessageAttributes": message["MessageAttributes"]} if message.get("MessageAttributes") else {})
        for index, message in enumerate(messages)
    ]
    sent = sqs.send_message_batch(QueueUrl=source, Entries=entries)
    done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
    deleted = (
        sqs.delete_message_batch(
            QueueUrl=dead, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        )
        if done
        else {}
    )
    if sent.get("Failed"):
        raise RuntimeError(f"{len(sent['Failed'])} messages could not be sent back; they stay dead-lettered")
    if deleted.get("Failed"):
        # Stop rather than receive them again in this run: sent twice, they would be processed once anyway
        # (the processor deduplicates), but a second send is not a move.
        raise RuntimeError(
            f"{len(deleted['Failed'])} messages were sent back but are still dead-lettered: run make redrive again"
        )
    return len(deleted.get("Successful", []))


def _count(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, not visible) messages of the queue, as SQS approximates them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make redrive", description=__doc__.splitlines()[0])
    parser.add_argument(
        "environment",
        nargs="?",
        choices=ENVIRONMENTS,
        help="the stack's Environment (ENV=dev|prod; local, the default with AWS_ENDPOINT_URL, for make run)",
    )
    arguments = parser.parse_args(argv)
    local = bool(os.environ.get("AWS_ENDPOINT_URL"))
    if arguments.environment is None:
        if not local:
            parser.error(
                "give ENV=dev|prod, or set AWS_ENDPOINT_URL to the local stack's emulator (http://127.0.0.1:4566)"
            )
        arguments.environment = "local"
    if arguments.environment == "local" and not local:
        parser.error("ENV=local needs AWS_ENDPOINT_URL: the local stack's AWS emulator, e.g. http://127.0.0.1:4566")
    if arguments.environment != "local" and local:  # an emulator holds no deployed stack's queues
        parser.error(
            f"ENV={arguments.environment} is a deployed stack, but AWS_ENDPOINT_URL sends every AWS call to an "
            "emulator: unset AWS_ENDPOINT_URL, or give ENV=local for the local stack"
        )
    if local:  # an emulator: any credentials do, never real ones
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    region = None if local else deployment(arguments.environment)[1]  # where samconfig.toml deploys it
    left = None
    try:
        moved = redrive(boto3.client("sqs", region_name=region), arguments.environment, by_hand=local)
    except LeftInFlight as error:
        left, moved = error, error.moved
    print(f"moved {moved} message(s) from the dead-letter queue back to {queue_names(arguments.environment)[0]}")
    if left is not None:
        print(left, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
