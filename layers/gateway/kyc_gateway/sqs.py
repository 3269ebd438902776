"""The one adapter between event batches (SQS messages, DynamoDB stream records) and a record processor, with
partial batch failures.

A hand-written loop rather than Powertools Batch: importing `utilities.batch` costs ~120 ms (it loads every
parser model), which alone would put a cold start 45% above the floor; this loop is the part we use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kyc_gateway import cold_start, deploy_check, snapstart
from kyc_gateway.observability import count, logger, record_outcome, request_started

RecordProcessor = Callable[[dict[str, Any], Any], None]
RetryPlanner = Callable[[dict[str, Any], Exception], None]
STREAM_TIME_MARGIN_SECONDS = 5  # more than one record takes at the most (the archive's S3 put: 1 s + 2 s)


def sqs_batch_handler(
    route: str,
    process: RecordProcessor,
    *,
    plan_retry: RetryPlanner | None = None,
    margin_seconds: float | None = None,
    hand_back: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler that runs `process` on every record and reports the failed ones individually
    (`ReportBatchItemFailures`): they return to the queue, and reach its DLQ after `maxReceiveCount`. A failed
    record comes back when its visibility timeout ends: the queue's, or the one `plan_retry(record, error)` sets
    (best effort: failing to set it leaves the queue's).

    A record after the first starts only while the invocation has more left than the slowest record of the batch
    so far took, plus `margin_seconds`: started with less, its provider call would likely be cut by the invocation's
    deadline and counted as the provider failing. The records it leaves are reported too, untried:
    not counted as failures nor retried later, and `hand_back(records)` (best effort) makes them visible again at
    once. SQS still counts their receive: a record left on every receive its queue allows is dead-lettered."""
    return _batch_handler(
        route, process, _message_id, plan_retry=plan_retry, margin_seconds=margin_seconds, hand_back=hand_back
    )


def stream_batch_handler(route: str, process: RecordProcessor) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler for a DynamoDB stream: `process` runs on the records in their order and stops at the first
    that fails, which it reports (`ReportBatchItemFailures`): Lambda hands the stream on from that record, the later
    ones with it, so none is skipped and none is processed ahead of an earlier one. It also stops, reporting the
    next record, when the invocation has less left than the slowest record so far took plus
    STREAM_TIME_MARGIN_SECONDS: a batch cut by the timeout would be handed on whole, its done records with it, and one
    too long for it would never get through."""
    return _batch_handler(route, process, _sequence_number, in_order=True, margin_seconds=STREAM_TIME_MARGIN_SECONDS)


def _message_id(record: dict[str, Any]) -> str:
    return record.get("messageId", "")


def _sequence_number(record: dict[str, Any]) -> str:
    return (record.get("dynamodb") or {}).get("SequenceNumber", "")


def _batch_handler(
    route: str,
    process: RecordProcessor,
    identify: Callable[[dict[str, Any]], str],
    *,
    plan_retry: RetryPlanner | None = None,
    in_order: bool = False,
    margin_seconds: float | None = None,
    hand_back: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if deploy_check.requested(event):
            return deploy_check.answer(lambda_handler)
        failures = []
        records = event.get("Records") or []
        slowest = 0.0
        for position, record in enumerate(records):
            if position and margin_seconds is not None and _out_of_time(context, slowest + margin_seconds):
                untried = records[position:]
                _hand_back(untried, hand_back, route)
                reported = untried[:1] if in_order else untried  # an ordered source is handed on from the first
                failures.extend({"itemIdentifier": identify(untried_record)} for untried_record in reported)
                break
            started = time.perf_counter()
            request_started(context)
            logger.set_correlation_id(record.get("messageId") or record.get("eventID"))
            code, provider, fault = "ok", None, False
            try:
                process(record, context)
            except Exception as error:  # noqa: BLE001 - any failure sends this record back, never the batch
                code = getattr(error, "code", None) or type(error).__name__
                provider = getattr(error, "failing_provider", None)  # the provider failing, if it is
                fault = getattr(error, "gateway_fault", True)  # a bug, AWS refusing: the gateway's own
                failures.append({"itemIdentifier": identify(record)})
                count("RecordFailures", Route=route)
                if plan_retry is not None:
                    _plan(plan_retry, record, error)
            elapsed_ms = (time.perf_counter() - started) * 1000
            slowest = max(slowest, elapsed_ms / 1000)
            record_outcome(route, code, 200 if code == "ok" else 500, elapsed_ms, provider, fault=fault)
            cold_start.resume()  # the first record ends the cold start, as an API route's first answer does
            if failures and in_order:
                break
        cold_start.resume()
        return {"batchItemFailures": failures}

    lambda_handler.route = route  # type: ignore[attr-defined]
    snapstart.register(lambda_handler)
    return lambda_handler


def _out_of_time(context: Any, seconds: float) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining is not None and remaining() < seconds * 1000


def _hand_back(
    records: list[dict[str, Any]], hand_back: Callable[[list[dict[str, Any]]], None] | None, route: str
) -> None:
    logger.info("records left for another invocation: too little time left", records=len(records), route=route)
    if hand_back is None:
        return
    try:
        hand_back(records)
    except Exception as failure:  # noqa: BLE001 - they still go back, after the queue's own timeout
        logger.warning("records not handed back", error=type(failure).__name__)


def _plan(plan_retry: RetryPlanner, record: dict[str, Any], error: Exception) -> None:
    try:
        plan_retry(record, error)
    except Exception as failure:  # noqa: BLE001 - the record still goes back, after the queue's own timeout
        logger.warning("retry not planned", error=type(failure).__name__)


def receive_count(record: dict[str, Any]) -> int:
    """How many times SQS has handed this record out, this time included (1 the first time)."""
    try:
        return max(1, int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError):
        return 1
