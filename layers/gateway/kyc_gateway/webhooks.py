"""connectFi webhooks: authenticated ingestion onto SQS, and the processor that confirms and stores states.

connectFi signs nothing, so (NOTES.md) the webhook URL carries an unguessable token from Secrets Manager, and a
webhook is only a signal: the processor fetches the authoritative state with /akepa/status before storing it.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from kyc_gateway import applications, aws, idempotency_keys
from kyc_gateway.api import body_bytes, json_object_body, validate
from kyc_gateway.errors import GatewayError, SubjectNotFound
from kyc_gateway.lazy import once
from kyc_gateway.observability import logger
from kyc_gateway.providers import connectfi
from kyc_gateway.settings import get_settings

MAX_WEBHOOK_BYTES = 256 * 1024  # an SQS message's limit
EVENT_SOURCE = "kyc-gateway.connectfi"
EVENT_TYPE = "ApplicationStatusChanged"
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


# --- ingestion ---------------------------------------------------------------------------------------------------


class InvalidWebhookToken(GatewayError):
    status = 401
    code = "invalid_webhook_token"
    message = "The webhook URL is not valid"


class Delivery(BaseModel):
    token: str
    body: str


def parse_delivery(event: dict[str, Any], model: type[Delivery]) -> Delivery:
    """A webhook body must be a connectFi envelope (ids checked; everything else is the provider's) within the
    size of an SQS message: else 400/413, before any AWS call."""
    validate(Signal, json_object_body(event, MAX_WEBHOOK_BYTES))
    token = (event.get("pathParameters") or {}).get("token") or ""
    return model(token=token, body=body_bytes(event, MAX_WEBHOOK_BYTES).decode())


def ingest(delivery: Delivery) -> dict[str, str]:
    """Check the URL's token in constant time (401 and nothing queued when wrong), then queue the raw body."""
    expected = connectfi.webhook_token()
    if not hmac.compare_digest(delivery.token.encode(), expected.encode()):
        raise InvalidWebhookToken()
    aws.client("sqs").send_message(QueueUrl=get_settings().require("webhook_queue_url"), MessageBody=delivery.body)
    return {"status": "accepted"}


# --- processing ---------------------------------------------------------------------------------------------------


class SignalData(BaseModel):
    applicationId: connectfi.ConnectFiId
    customerId: connectfi.ConnectFiId
    status: str | None = None
    outcome: str | None = None


class Signal(BaseModel):
    """What a webhook claims: the /akepa/status envelope. Only the ids and the claimed status are used; the rest
    (and unknown fields) is the provider's business."""

    data: SignalData


class PoisonMessage(Exception):
    code = "poison_message"


def process_record(record: dict[str, Any], context: Any) -> None:
    """Confirm one delivery with /akepa/status and store it; a duplicate delivery (same application, status and
    outcome) is processed once. Raises to send the record back to the queue (then to the DLQ)."""
    try:
        signal = Signal.model_validate_json(record.get("body") or "")
    except ValidationError:
        raise PoisonMessage("not a connectFi webhook") from None
    _confirm_once(context)(signal=signal.data.model_dump())


def _confirm_once(context: Any) -> Any:
    """`_confirm` wrapped by Powertools Idempotency on the delivery's content."""
    confirm, config = _idempotent_confirm()
    config.register_lambda_context(context)  # lets an in-progress record expire with the invocation
    return confirm


@once
def _idempotent_confirm() -> tuple[Any, Any]:
    """Built on first use: a record failing validation never pays for the persistence layer's client."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS)
    store = idempotency_keys.persistence_store()
    confirm = idempotent_function(data_keyword_argument="signal", config=config, persistence_store=store)
    return confirm(_confirm), config


def _confirm(signal: dict[str, Any]) -> dict[str, Any]:
    request = connectfi.StatusRequest(customerId=signal["customerId"], applicationId=signal["applicationId"])
    state = connectfi.client().status(request).body["data"]
    if state.get("applicationId") != signal["applicationId"]:
        raise PoisonMessage("the status answer is for another application")
    stored = applications.record(state)
    if stored is None:
        logger.info("stale state ignored", application_id=signal["applicationId"])
        return {"stored": False}
    if stored["status"] != stored.get("publishedStatus"):
        _publish(stored)
        applications.mark_published(stored["applicationId"], stored["status"])
    return {"stored": True, "status": stored["status"]}


def _publish(stored: dict[str, Any]) -> None:
    detail = {
        "applicationId": stored["applicationId"],
        "customerId": stored["customerId"],
        "reference": stored["reference"],
        "previousStatus": stored.get("publishedStatus"),
        "status": stored["status"],
        "outcome": stored["outcome"],
    }
    reply = aws.client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": EVENT_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": get_settings().event_bus_name,
            }
        ]
    )
    if reply.get("FailedEntryCount"):
        raise RuntimeError("EventBridge refused the event")  # retried with the record


# --- stored state -------------------------------------------------------------------------------------------------


class ApplicationPath(BaseModel):
    model_config = ConfigDict(extra="ignore")

    applicationId: connectfi.ConnectFiId


def stored_application(request: ApplicationPath) -> dict[str, Any]:
    item = applications.get(request.applicationId)
    if item is None:
        raise SubjectNotFound(code="application_not_found", message="No status is stored for this application")
    return applications.public_view(item)
