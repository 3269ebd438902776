"""`Idempotency-Key` on provider write routes: a caller's retry never repeats a paid, non-repeatable call.

The same key with the same body within 24 h answers the stored response without calling the provider; the same
key with another body is 409 `idempotency_key_reused`; a key whose first request is still running is 409
`idempotency_key_in_use`. Only successful answers are stored: after a failure the key may be retried.
Powertools Idempotency, in the DynamoDB idempotency table, imported only when a key is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from kyc_gateway import aws
from kyc_gateway.errors import GatewayError, RequestValidationError
from kyc_gateway.lazy import once
from kyc_gateway.settings import get_settings

HEADER = "idempotency-key"
WINDOW_SECONDS = 24 * 3600
_SANE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,254}$")


class IdempotencyKeyReused(GatewayError):
    status = 409
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with another request body"


class IdempotencyKeyInUse(GatewayError):
    status = 409
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still in progress"


def checked_key(key: str) -> str:
    if not _SANE_KEY.match(key):
        raise RequestValidationError(
            details=[
                {"field": "Idempotency-Key", "issue": "must be 1-255 letters, digits or . _ : -", "type": "header"}
            ]
        )
    return key


def replay_or_run(route: str, key: str, request: BaseModel, run: Callable[[], str], context: Any) -> tuple[str, bool]:
    """The response body for this key: stored (True) or from `run()` (False), which is then stored."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    replayed = []

    def mark_replayed(response: Any, _record: Any) -> Any:
        replayed.append(True)
        return response

    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=WINDOW_SECONDS,
        response_hook=mark_replayed,
    )
    config.register_lambda_context(context)

    @idempotent_function(data_keyword_argument="data", config=config, persistence_store=persistence_store())
    def call_provider(data: dict[str, Any]) -> dict[str, str]:
        return {"body": run()}

    try:
        result = call_provider(data={"key": f"{route}#{key}", "body": request.model_dump(mode="json")})
    except IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInUse() from None
    return result["body"], bool(replayed)


@once
def persistence_store() -> Any:
    """The DynamoDB idempotency table, as Powertools Idempotency's persistence layer (one per instance)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().require("idempotency_table_name"), boto3_client=aws.client("dynamodb")
    )
