"""connectFi webhooks: authenticated ingestion onto SQS, and the processor that confirms and stores states.

connectFi signs nothing, so the webhook URL carries an unguessable token from Secrets Manager, and a
webhook is only a signal: the processor fetches the authoritative state with /akepa/status before storing it.
"""

from __future__ import annotations

import functools
import hmac
import json
import math
import random
import re
from typing import Any

from pydantic import ConfigDict

from kyc_gateway import aws, claims, clock, strict_json
from kyc_gateway.api import RawBody, read_json, validate
from kyc_gateway.errors import GatewayError, RequestTooLarge, SubjectNotFound
from kyc_gateway.lazy import once
from kyc_gateway.model import Model
from kyc_gateway.observability import count, logger
from kyc_gateway.providers.connectfi import applications, common
from kyc_gateway.settings import get_settings
from kyc_gateway.sqs import receive_count

MAX_WEBHOOK_BYTES = 256 * 1024  # an SQS message's limit
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_PREFIX = "webhooks.connectfi"  # its role reaches only these records (the template tags it so)


# --- ingestion ---------------------------------------------------------------------------------------------------


class InvalidWebhookToken(GatewayError):
    status = 401
    code = "invalid_webhook_token"
    message = "The webhook URL is not valid"


class WebhookNotQueued(GatewayError):
    status = 503
    code = "webhook_not_queued"
    message = "The webhook could not be queued; it was not accepted"


class WebhookQueueOutcomeUnknown(GatewayError):
    status = 503
    code = "webhook_queue_outcome_unknown"
    message = "The webhook may or may not have been queued; sending it again is safe (it is processed once)"


class Delivery(Model):
    """A delivery as the API edge hands it over: the URL's token, and the body not yet read (a stranger's delivery
    is refused before any of it is parsed)."""

    token: str
    body: RawBody


def ingest(delivery: Delivery) -> dict[str, str]:
    """Check the URL's token in constant time (401, nothing parsed and nothing queued, when wrong); then the body
    (a connectFi envelope within an SQS message's size: else 400/413), parsed as the processor will parse it;
    then queue the raw body, retried within a budget (503 when the queue cannot take it)."""
    if len(delivery.token) < common.WEBHOOK_TOKEN_MIN_LENGTH:  # can match no secret: refused without fetching it
        raise InvalidWebhookToken()
    if not hmac.compare_digest(delivery.token.encode(), common.webhook_token().encode()):
        raise InvalidWebhookToken()
    raw = delivery.body.read(MAX_WEBHOOK_BYTES)
    validate(Signal, read_json(raw))  # the processor reads it with the same reader
    _enqueue(_sqs_text(raw.decode("utf-8")))
    return {"status": "accepted"}


# Characters an SQS message may not carry, though a JSON string may (SendMessage allows #x9, #xA, #xD, #x20-#xD7FF,
# #xE000-#xFFFD, #x10000-#x10FFFF). In valid JSON they can only stand inside strings. ASCII text is checked with
# the small pattern; the full one takes ~6 ms to compile, so only text beyond ASCII compiles it.
_NOT_SQS_ASCII = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@functools.cache
def _not_sqs_text() -> re.Pattern[str]:
    return re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_ENQUEUE_BUDGET_SECONDS = 10.0


def _sqs_text(text: str) -> str:
    """The body with the characters SQS refuses written as JSON escapes (the same JSON document); 413 if that
    outgrows an SQS message."""
    pattern = _NOT_SQS_ASCII if text.isascii() else _not_sqs_text()
    escaped = pattern.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    if len(escaped.encode()) > MAX_WEBHOOK_BYTES:
        raise RequestTooLarge.over(MAX_WEBHOOK_BYTES)
    return escaped


def _enqueue(body: str) -> None:
    """connectFi sends a webhook once: retry the queue within a budget before giving up. An answer no retry can mend
    (access denied, no such queue) gives up at once. Giving up after an attempt that may have reached the queue
    (a timeout after sending, a connection cut, an SQS 5xx) is not "not queued": it is counted and answered as
    outcome unknown (the processor handles a delivery queued twice once)."""
    queue_url = get_settings().require("webhook_queue_url")
    deadline = clock.monotonic() + _ENQUEUE_BUDGET_SECONDS
    delay, maybe_queued = 0.05, False
    while True:
        try:
            aws.quick_client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
            return
        except Exception as error:  # noqa: BLE001 - any failure of the queue is retried or counted
            failure, retryable, reached = _failure(error)
            maybe_queued = maybe_queued or reached
        if not retryable or clock.monotonic() + delay >= deadline:
            break
        clock.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 1.0)
    if maybe_queued:
        count("WebhooksQueueOutcomeUnknown", Provider=common.PROVIDER)
        logger.error("webhook queue outcome unknown", provider=common.PROVIDER, error=failure)
        raise WebhookQueueOutcomeUnknown()
    count("WebhooksNotQueued", Provider=common.PROVIDER)
    logger.error("webhook not queued", provider=common.PROVIDER, error=failure)
    raise WebhookNotQueued()


_THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestThrottled", "KMS.ThrottlingException"})
# botocore's failures that prove the request never reached SQS
_NEVER_SENT = frozenset({"EndpointConnectionError", "ConnectTimeoutError"})


def _failure(error: Exception) -> tuple[str, bool, bool]:
    """The error's name; whether trying again may help (a connection failure, a timeout, throttling or a 5xx may
    pass; any other answer from SQS, a 4xx, will not); and whether the message may have been queued all the same
    (an answer lost after sending, or an SQS 5xx)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        name = type(error).__name__
        return name, True, name not in _NEVER_SENT
    code = str(response.get("Error", {}).get("Code") or type(error).__name__)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    return code, status >= 500 or code in _THROTTLED, status >= 500


# --- processing ---------------------------------------------------------------------------------------------------


class SignalData(Model):
    applicationId: common.ConnectFiId
    customerId: common.ConnectFiId
    status: str | None = None
    outcome: str | None = None


class Signal(Model):
    """What a webhook claims: the /akepa/status envelope. Only the ids, the claimed status and connectFi's request
    id (one per callback it sends) are used; the rest (and unknown fields) is the provider's business."""

    data: SignalData
    requestId: Any = None  # a string in connectFi's examples; any JSON value is taken as it comes

    def delivery(self) -> dict[str, Any]:
        """What makes two deliveries the same callback: the claim and connectFi's request id, when it sends one (a
        status reached again later is another callback, with another request id)."""
        return self.data.model_dump() | ({} if self.requestId is None else {"requestId": self.requestId})


class PoisonMessage(Exception):
    """A record that is not a connectFi webhook: no retry can process it (it ends in the dead-letter queue)."""

    code = "poison_message"


def process_record(record: dict[str, Any], context: Any) -> None:
    """Confirm one delivery with /akepa/status and store it; a duplicate delivery (the same callback: Signal.delivery)
    is processed once, unless connectFi's status did not confirm what it claims (it is then processed again if it
    comes again; the reconciliation follows the application meanwhile). Raises to send the record back to the queue
    (then to the DLQ)."""
    try:
        signal = Signal.model_validate(strict_json.loads((record.get("body") or "").encode()))
    except ValueError:  # pydantic's ValidationError included
        raise PoisonMessage() from None
    claims.run_once(
        IDEMPOTENCY_KEY_PREFIX,
        signal.delivery(),
        functools.partial(_confirm, signal.data, str(record.get("messageId") or "unknown")),
        window_seconds=IDEMPOTENCY_WINDOW_SECONDS,
        context=context,
        done=bool,
    )


ROUTE = "connectfi.webhook_processor"


def _confirm(signal: SignalData, message_id: str) -> bool:
    """Store connectFi's state of the application; whether it confirmed the status the webhook claims (a webhook
    claiming none is confirmed by any)."""
    from kyc_gateway.providers.connectfi.checks import audited_state  # the HTTP stack: only when confirming

    observed = audited_state(
        signal.customerId, signal.applicationId, caller="webhook", route=ROUTE, correlation_id=message_id
    )
    applications.record_and_announce(observed.state, observed_at=observed.at)
    confirmed = signal.status is None or observed.state["status"] == signal.status
    if not confirmed:
        logger.info(
            "webhook status not confirmed by connectFi's status: left to the reconciliation",
            application_id=signal.applicationId,
        )
    return confirmed


# A record back from connectFi failing waits at most this long before its next try (SQS allows 12 hours).
MAX_RETRY_DELAY_SECONDS = 900


def retry_delay(receive_count: int, circuit_open_for: float, base_seconds: float) -> int:
    """Seconds a record that failed because connectFi did waits before its next try: `base_seconds` doubled with
    each receive (1x, 2x, 4x...), and never before connectFi's circuit closes again (a try while it is open fails
    at once and uses up one of the queue's receives for nothing)."""
    backoff = base_seconds * 2 ** (receive_count - 1)
    return int(min(MAX_RETRY_DELAY_SECONDS, math.ceil(max(backoff, circuit_open_for + 1))))


@once
def _max_receives() -> int:
    """The webhook queue's maxReceiveCount, read from the queue itself (its redrive policy) once per instance."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=get_settings().require("webhook_queue_url"), AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    return int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


def plan_retry(record: dict[str, Any], error: Exception) -> None:
    """A record that failed because connectFi failed, timed out or has its circuit open comes back when connectFi
    may answer again (`retry_delay`), not after the queue's fixed visibility timeout: a short outage spends a few
    of the record's receives instead of all of them, and dead-letters nothing. Any other failure keeps the queue's
    timeout, as does a record on its last receive (it is dead-lettered at its next, so waiting longer only delays
    the dead-letter alarm)."""
    if not getattr(error, "provider_side", False) or receive_count(record) >= _max_receives():
        return
    from kyc_gateway.providers.connectfi.client import ConnectFiClient  # loaded already: it is what failed

    circuit_open_for = ConnectFiClient.instance().http.circuit.open_for()
    delay = retry_delay(receive_count(record), circuit_open_for, get_settings().webhook_retry_base_seconds)
    aws.client("sqs").change_message_visibility(
        QueueUrl=get_settings().require("webhook_queue_url"),
        ReceiptHandle=record["receiptHandle"],
        VisibilityTimeout=delay,
    )
    logger.info("record retried later", provider=common.PROVIDER, delay_seconds=delay)


HAND_BACK_SECONDS = 3  # the quick client's longest call: a 1 s connect and a 2 s read
# What a batch keeps back past its slowest record before it starts another (sqs.sqs_batch_handler): what the record's
# deadline keeps back for its answer, and the time to hand the untried ones back.
BATCH_MARGIN_SECONDS = clock.ANSWER_MARGIN_SECONDS + HAND_BACK_SECONDS


def hand_back(records: list[dict[str, Any]]) -> None:
    """Records left untried for lack of time come back at once, for another invocation: one call (a batch holds at
    most 10 records, as many as the call takes), one quick attempt, and only while the invocation has time for it:
    otherwise they come back after the queue's visibility timeout."""
    left = clock.time_left()
    if left is not None and left < HAND_BACK_SECONDS:
        return
    aws.quick_client("sqs").change_message_visibility_batch(
        QueueUrl=get_settings().require("webhook_queue_url"),
        Entries=[
            {"Id": str(number), "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": 0}
            for number, record in enumerate(records)
        ],
    )


# --- stored state -------------------------------------------------------------------------------------------------


class ApplicationPath(Model):
    model_config = ConfigDict(extra="ignore")

    applicationId: common.ConnectFiId


def stored_application(request: ApplicationPath) -> dict[str, Any]:
    item = applications.get(request.applicationId)
    if item is None:
        raise SubjectNotFound(code="application_not_found", message="No status is stored for this application")
    return applications.public_view(item)
