"""connectFi webhooks: authenticated ingestion onto SQS, and the processor that confirms and stores states.

connectFi signs nothing, so the webhook URL carries an unguessable token from Secrets Manager, and a
webhook is only a signal: the processor fetches the authoritative state with /akepa/status before storing it.
"""

from __future__ import annotations

import functools
import hmac
import random
import re
from typing import Any

import pydantic_core
from pydantic import ConfigDict

from kyc_gateway import aws, claims, clock
from kyc_gateway.api import RawBody, validate
from kyc_gateway.errors import GatewayError, RequestTooLarge, RequestValidationError, SubjectNotFound
from kyc_gateway.model import Model
from kyc_gateway.observability import count, logger
from kyc_gateway.providers.connectfi import applications
from kyc_gateway.providers.connectfi import common as connectfi
from kyc_gateway.settings import get_settings

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


class Delivery(Model):
    """A delivery as the API edge hands it over: the URL's token, and the body not yet read (a stranger's delivery
    is refused before any of it is parsed)."""

    token: str
    body: RawBody


def ingest(delivery: Delivery) -> dict[str, str]:
    """Check the URL's token in constant time (401, nothing parsed and nothing queued, when wrong); then the body
    (a connectFi envelope within an SQS message's size: else 400/413), parsed as the processor will parse it;
    then queue the raw body, retried within a budget (503 when the queue cannot take it)."""
    if len(delivery.token) < connectfi.WEBHOOK_TOKEN_MIN_LENGTH:  # can match no secret: refused without fetching it
        raise InvalidWebhookToken()
    if not hmac.compare_digest(delivery.token.encode(), connectfi.webhook_token().encode()):
        raise InvalidWebhookToken()
    raw = delivery.body.read(MAX_WEBHOOK_BYTES)
    try:
        text = raw.decode("utf-8")
        document = parse_json(text)
    except ValueError:  # UnicodeDecodeError included
        raise RequestValidationError(
            details=[{"field": "body", "issue": "is not valid JSON", "type": "body"}]
        ) from None
    validate(Signal, document)
    _enqueue(_sqs_text(text))
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
        raise RequestTooLarge(details=[{"field": "body", "issue": f"must be at most {MAX_WEBHOOK_BYTES} bytes"}])
    return escaped


def _enqueue(body: str) -> None:
    """connectFi sends a webhook once: retry the queue within a budget before giving up, and count a give-up.
    An answer no retry can mend (access denied, no such queue) gives up at once."""
    queue_url = get_settings().require("webhook_queue_url")
    deadline = clock.monotonic() + _ENQUEUE_BUDGET_SECONDS
    delay = 0.05
    while True:
        try:
            aws.quick_client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
            return
        except Exception as error:  # noqa: BLE001 - any failure of the queue is retried or counted
            failure, retryable = _failure(error)
        if not retryable or clock.monotonic() + delay >= deadline:
            break
        clock.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 1.0)
    count("WebhooksNotQueued", Provider=connectfi.PROVIDER)
    logger.error("webhook not queued", provider=connectfi.PROVIDER, error=failure)
    raise WebhookNotQueued()


_THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestThrottled", "KMS.ThrottlingException"})


def _failure(error: Exception) -> tuple[str, bool]:
    """The error's name, and whether trying again may help: a connection failure, a timeout, throttling or a 5xx
    may pass; any other answer from SQS (a 4xx) will not."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return type(error).__name__, True
    code = str(response.get("Error", {}).get("Code") or type(error).__name__)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    return code, status >= 500 or code in _THROTTLED


# --- processing ---------------------------------------------------------------------------------------------------


def parse_json(text: str | bytes) -> Any:
    """Strict JSON, the one parser of webhook bodies at ingestion and in the processor, so that what ingestion
    accepts the processor can read: no NaN or Infinity, no lone surrogates, bounded nesting (ValueError)."""
    return pydantic_core.from_json(text, allow_inf_nan=False)


class SignalData(Model):
    applicationId: connectfi.ConnectFiId
    customerId: connectfi.ConnectFiId
    status: str | None = None
    outcome: str | None = None


class Signal(Model):
    """What a webhook claims: the /akepa/status envelope. Only the ids and the claimed status are used; the rest
    (and unknown fields) is the provider's business."""

    data: SignalData


class PoisonMessage(Exception):
    code = "poison_message"


def process_record(record: dict[str, Any], context: Any) -> None:
    """Confirm one delivery with /akepa/status and store it; a duplicate delivery (same application, status and
    outcome) is processed once. Raises to send the record back to the queue (then to the DLQ)."""
    try:
        signal = Signal.model_validate(parse_json(record.get("body") or ""))
    except ValueError:  # pydantic's ValidationError included
        raise PoisonMessage("not a connectFi webhook") from None
    claims.run_once(
        IDEMPOTENCY_KEY_PREFIX,
        signal.data.model_dump(),
        functools.partial(_confirm, signal.data),
        window_seconds=IDEMPOTENCY_WINDOW_SECONDS,
        context=context,
    )


def _confirm(signal: SignalData) -> None:
    from kyc_gateway.providers.connectfi.client import confirmed_state  # the HTTP stack: only when confirming

    applications.record_and_announce(confirmed_state(signal.customerId, signal.applicationId))


# --- stored state -------------------------------------------------------------------------------------------------


class ApplicationPath(Model):
    model_config = ConfigDict(extra="ignore")

    applicationId: connectfi.ConnectFiId


def stored_application(request: ApplicationPath) -> dict[str, Any]:
    item = applications.get(request.applicationId)
    if item is None:
        raise SubjectNotFound(code="application_not_found", message="No status is stored for this application")
    return applications.public_view(item)
