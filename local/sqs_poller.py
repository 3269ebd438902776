"""Feeds SQS-triggered functions real SQS event batches, as Lambda's event source mapping does.

`BatchSize` and `ReportBatchItemFailures` are honoured: processed messages are deleted, failed ones go back to
the queue and, after the queue's `maxReceiveCount`, to its dead-letter queue (the emulator applies the redrive
policy). Messages are received with a visibility timeout of `retry_delay` seconds instead of the queue's own, so
locally a failed message comes back in seconds; a function that sets a record's visibility itself
(ChangeMessageVisibility, as the webhook processor does when connectFi fails) is obeyed, as on Lambda. One poller
thread per queue: a message that turns visible while its batch is still running is not handed out twice.
"""

from __future__ import annotations

from typing import Any

from local.background import Invoker, Poller
from project import template as cfn

LAMBDA_DEFAULT_BATCH_SIZE = 10  # for an SQS event source without BatchSize


def event_source_options(properties: dict[str, Any]) -> dict[str, Any]:
    """A poller's batch size and partial-failure reporting, from an SQS event's properties in the template."""
    return {
        "batch_size": int(properties.get("BatchSize", LAMBDA_DEFAULT_BATCH_SIZE)),
        "report_batch_item_failures": "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
    }


class SqsPoller(Poller):
    # Short polls, `idle_seconds` apart when empty, not long ones: the emulator takes one request at a time, and a
    # long poll would hold every other AWS call of the stack (a keyed write, a webhook's send) for up to its wait.
    kind = "sqs"

    def __init__(
        self,
        sqs: Any,
        function: cfn.FunctionSpec,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int,
        report_batch_item_failures: bool,
        invoke: Invoker,
        retry_delay: int = 1,
        idle_seconds: float = 0.1,
    ) -> None:
        super().__init__(function, invoke, idle_seconds=idle_seconds)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.report_batch_item_failures = report_batch_item_failures
        self.retry_delay = retry_delay

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and hand it to the function; the number of messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.batch_size),
            VisibilityTimeout=self.retry_delay,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        try:
            result = self.invoke(self.function, event)
        except Exception:  # noqa: BLE001 - a failed invocation returns the whole batch to the queue
            failed = {message["MessageId"] for message in messages}
        else:
            failed = self._failed_ids(result, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)  # the failed ones come back when their visibility ends

    def _failed_ids(self, result: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.report_batch_item_failures:
            return set()
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        ids = {m["MessageId"] for m in messages}
        reported = {item.get("itemIdentifier") for item in failures or []}
        # Lambda treats an unknown or empty identifier as a failure of the whole batch.
        return ids if reported - ids else reported & ids

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": value.get("StringListValues", []),
                    "binaryListValues": value.get("BinaryListValues", []),
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }
