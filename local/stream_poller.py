"""Feeds DynamoDB-stream-triggered functions (the audit archive) the table's changes, as Lambda's event source mapping
does: in order, `BatchSize` at a time, from its `StartingPosition` (`TRIM_HORIZON`: the oldest change kept; or
`LATEST`); with `ReportBatchItemFailures`
the stream is handed on again from the first change reported failed (the later ones with it), and never past one
until it is done, as `MaximumRetryAttempts: -1` asks. One thread per stream.
"""

from __future__ import annotations

from typing import Any

from local.background import Invoker, Poller
from project import template as cfn

LAMBDA_DEFAULT_BATCH_SIZE = 100  # for a DynamoDB event source without BatchSize


def as_lambda_gives(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A change as DynamoDB Streams' GetRecords answers it through boto3, as Lambda's event record: its time in epoch
    seconds, and the stream's ARN."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if hasattr(created, "timestamp"):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": change, "eventSourceARN": stream_arn}


class StreamPoller(Poller):
    kind = "stream"

    def __init__(
        self,
        streams: Any,
        function: cfn.FunctionSpec,
        stream_arn: str,
        *,
        batch_size: int = LAMBDA_DEFAULT_BATCH_SIZE,
        starting_position: str = "TRIM_HORIZON",
        invoke: Invoker,
        retry_delay: float = 1.0,
        idle_seconds: float = 0.2,
    ) -> None:
        super().__init__(function, invoke, idle_seconds=idle_seconds)
        self.streams = streams
        self.stream_arn = stream_arn
        self.batch_size = batch_size
        self.starting_position = starting_position
        self.retry_delay = retry_delay
        self._iterator: str | None = None

    def poll_once(self) -> int:
        """Hand the next batch of changes to the function; how many it was given. A failure reported (or the
        invocation failing) hands the stream on again from that change, after `retry_delay`."""
        if self._iterator is None:
            self._iterator = self._shard_iterator(self.starting_position)
        got = self.streams.get_records(ShardIterator=self._iterator, Limit=self.batch_size)
        records = [as_lambda_gives(record, self.stream_arn) for record in got["Records"]]
        if not records:
            self._iterator = got.get("NextShardIterator") or self._iterator
            return 0
        try:
            result = self.invoke(self.function, {"Records": records})
            failed = [item.get("itemIdentifier") for item in (result or {}).get("batchItemFailures") or []]
        except Exception:  # noqa: BLE001 - a failed invocation hands the whole batch on again
            failed = [records[0]["dynamodb"]["SequenceNumber"]]
        if failed:
            # Lambda takes the lowest sequence number reported; an unknown one fails the whole batch
            numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
            first = min((numbers.index(number) for number in failed if number in numbers), default=0)
            self._iterator = self._shard_iterator("AT_SEQUENCE_NUMBER", numbers[first])
            self._stopped.wait(self.retry_delay)
        else:
            self._iterator = got["NextShardIterator"]
        return len(records)

    def _shard_iterator(self, kind: str, sequence_number: str | None = None) -> str:
        (shard, *_) = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        position = {"SequenceNumber": sequence_number} if sequence_number else {}
        return self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=kind, **position
        )["ShardIterator"]
