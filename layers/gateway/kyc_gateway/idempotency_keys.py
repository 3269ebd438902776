"""`Idempotency-Key` on provider write routes: a caller's retry never repeats a paid, non-repeatable call.

The same key with the same body within 24 h answers the stored response without calling the provider; the same
key with another body is 409 `idempotency_key_reused`; a key whose first request is still running is 409
`idempotency_key_in_use`. Successful answers are stored; after a failure the key may be retried, except when
the provider may have done the write all the same (a timeout after the request was sent, a connection cut off
after sending, a 504 from in front of the provider, or an error the gateway did not foresee once a write had begun
to be sent; one before any write began frees the key): the key then stays "outcome unknown" and a retry under it
is 409 `idempotency_outcome_unknown`, never a second write. So does a key whose first request was killed (a Lambda
timeout, out of memory) while it held the key: its record stays "in progress", never taken over (409
`idempotency_key_in_use`), and once no invocation could still be running it, its outcome is unknown. A failure
after the write was done (a document generated, its upload failed) is stored like an answer: a retry under the key
gets the same error. Powertools Idempotency, in the DynamoDB idempotency table, imported only when a key is sent.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from kyc_gateway import aws
from kyc_gateway.errors import GatewayError, RequestValidationError
from kyc_gateway.http import writes_begun
from kyc_gateway.lazy import once
from kyc_gateway.observability import logger
from kyc_gateway.settings import get_settings

WINDOW_SECONDS = 24 * 3600
LONGEST_INVOCATION_SECONDS = 15 * 60  # Lambda's own limit: no request that holds a key runs longer
_SANE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,254}\Z")


class IdempotencyKeyReused(GatewayError):
    status = 409
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with another request body"


class IdempotencyKeyInUse(GatewayError):
    status = 409
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still in progress"


class IdempotencyOutcomeUnknown(GatewayError):
    status = 409
    code = "idempotency_outcome_unknown"
    message = (
        "The first request with this Idempotency-Key may or may not have been done by the provider: "
        "find out before sending it again under a new key"
    )


def checked_key(key: str) -> str:
    if not _SANE_KEY.match(key):
        raise RequestValidationError(
            details=[
                {"field": "Idempotency-Key", "issue": "must be 1-255 letters, digits or . _ : -", "type": "header"}
            ]
        )
    return key


def replay_or_run(
    route: str, key: str, request: BaseModel, run: Callable[[], str], *, how_to_check: str
) -> tuple[str, bool]:
    """The response body for this key: stored (True) or from `run()` (False), which is then stored.
    `how_to_check` tells a caller whose first request has an unknown outcome how to find it out."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    replayed = False

    def mark_replayed(response: Any, _record: Any) -> Any:
        nonlocal replayed
        replayed = True
        return response

    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=WINDOW_SECONDS,
        response_hook=mark_replayed,
    )
    # No Lambda context registered: Powertools would then let a retry take over a record still "in progress" once
    # the first invocation's time is up, and a first request killed after sending (a timeout, out of memory) would
    # be sent again. Unregistered, such a record is never taken over (see abandoned below).

    failed_here: list[Exception] = []  # this request's own failure (_own_answer tells which free the key)
    unsent: list[Exception] = []  # ... an unforeseen one before any write of the request began
    answered: list[str] = []  # this request's own successful answer

    # Records of this route only, under its key prefix: its role reaches no other (the template tags it so).
    @idempotent_function(
        data_keyword_argument="data",
        config=config,
        persistence_store=persistence_store(),
        key_prefix=f"keys.{route}",
    )
    def call_provider(data: dict[str, Any]) -> dict[str, Any]:
        writes_before = writes_begun()
        try:
            answered.append(run())
            return {"body": answered[0]}
        except GatewayError as error:
            failed_here.append(error)
            if not (error.write_done or error.outcome_unknown):
                raise  # nothing stored: the key may be retried
            if error.write_done:
                return {"failed": error.record()}  # stored: a retry gets the same answer, not a second write
            return {"outcomeUnknown": error.code}  # stored: a retry must not write again
        except Exception as error:
            failed_here.append(error)
            if writes_begun() == writes_before:
                unsent.append(error)
                raise  # not foreseen, but before any write began (a token table failing...): the key is freed
            # Not foreseen, and after a write began: Powertools would delete the record and let a retry write again.
            # Stored as an unknown outcome instead; this request still answers 500 internal_error.
            return {"outcomeUnknown": "gateway_error"}

    data = _data_of(route, key, request)
    advice = [{"field": "Idempotency-Key", "issue": how_to_check, "type": "header"}]  # when the outcome is unknown
    _claim.owner = uuid.uuid4().hex
    try:
        result = call_provider(data=data)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except IdempotencyAlreadyInProgressError:
        if abandoned(data):
            raise IdempotencyOutcomeUnknown(details=advice) from None
        raise IdempotencyKeyInUse() from None
    except IdempotencyPersistenceLayerError as table_error:
        return _own_answer(data, route, table_error, failed_here, answered, unsent=bool(unsent))
    finally:
        _claim.owner = None
    if failed_here:  # this request's own failure, stored (a timeout, a cut-off connection, an unforeseen error...)
        raise failed_here[0]
    if "failed" in result:
        raise GatewayError.replayed(result["failed"])
    if "outcomeUnknown" in result:
        raise IdempotencyOutcomeUnknown(details=advice)
    return result["body"], replayed


def _data_of(route: str, key: str, request: BaseModel) -> dict[str, Any]:
    """The record's key, and what a retry must repeat: the bytes the provider gets when the caller's own are
    forwarded, else the request."""
    forwarded = getattr(request, "forwarded", None)
    body = forwarded.decode() if isinstance(forwarded, bytes) else request.model_dump(mode="json")
    return {"key": f"{route}#{key}", "body": body}


def _own_answer(
    data: dict[str, Any],
    route: str,
    table_error: Exception,
    failures: list[Exception],
    answered: list[str],
    *,
    unsent: bool,
) -> tuple[str, bool]:
    """This request's own answer when the table failed (freeing the key after a failure with nothing done, or
    storing what was done). A key left "in progress" is refused to retries (in use, then outcome unknown), never
    sent again."""
    if not (failures or answered):
        # Before anything ran (the key could not be claimed): nothing was sent. A claim DynamoDB applied whose
        # every answer was lost would hold the key "in progress", then "outcome unknown": it is released.
        free(data, table_error)
        raise table_error
    if failures:
        failure = failures[0]
        nothing_done = isinstance(failure, GatewayError) and not (failure.write_done or failure.outcome_unknown)
        if nothing_done or unsent:
            free(data, failure)
        raise failure
    logger.warning("idempotency answer not stored", route=route)
    return answered[0], False


def free(data: dict[str, Any], failure: Exception) -> None:
    """One more try at freeing the key of a request that failed with nothing done (Powertools' own failed, or the
    claim's answer was lost). The delete takes only this request's own record in progress (_only_its_own)."""
    try:
        persistence_store().delete_record(data=data, exception=failure)
    except aws.conditional_check_failed():
        return  # no record of this request's own: never claimed, or already deleted
    except Exception:  # noqa: BLE001 - the key stays held: its retries are refused, never sent twice
        logger.warning("idempotency key not freed", code=getattr(failure, "code", None) or type(failure).__name__)


def abandoned(data: dict[str, Any]) -> bool:
    """Whether the request holding this key "in progress" cannot still be running: its record is older than any
    invocation lasts, so it was killed, and what it sent, if anything, is unknown."""
    try:
        started = float(persistence_store().get_record(data=data).expiry_timestamp) - WINDOW_SECONDS  # a Decimal
    except Exception:  # noqa: BLE001 - gone meanwhile, or the table failing: in use as far as can be told
        return False
    return time.time() - started > LONGEST_INVOCATION_SECONDS


class _Claim(threading.local):
    owner: str | None = None  # the claim this thread's request is making


_claim = _Claim()


def _owned(params: dict[str, Any], **_: Any) -> None:
    """Powertools' claim of a key (its conditional PutItem) carries the claiming request's own id, and may take a
    record that id claimed: when DynamoDB applied the claim but its answer was lost, botocore's retry of the same
    write then takes the key, instead of finding a record "in progress" (409 to the one request holding it, and a
    false "outcome unknown" to its retries once it is old, though nothing was sent)."""
    owner = _claimer_of(params)
    condition = params.get("ConditionExpression", "")
    if owner is None or "attribute_not_exists(#id)" not in condition:
        return
    params["Item"]["claimOwner"] = {"S": owner}
    # its own record while still in progress only: a claim applied late never overwrites its own finished answer
    params["ConditionExpression"] = f"{condition} OR (#claimOwner = :claimOwner AND #status = :inprogress)"
    params.setdefault("ExpressionAttributeNames", {})["#claimOwner"] = "claimOwner"
    params.setdefault("ExpressionAttributeValues", {})[":claimOwner"] = {"S": owner}


def _only_its_own(params: dict[str, Any], **_: Any) -> None:
    """A key's record deleted while this thread's request claims it (by Powertools after a failure, or by `free`)
    is deleted only if it is this request's own and still in progress: never another request's claim (a claim that
    failed here, while another request holds the key), never a finished answer."""
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

    owner = _claimer_of(params)
    if owner is None:
        return
    params["ConditionExpression"] = "#claimOwner = :claimOwner AND #status = :inprogress"
    params["ExpressionAttributeNames"] = {"#claimOwner": "claimOwner", "#status": persistence_store().status_attr}
    params["ExpressionAttributeValues"] = {
        ":claimOwner": {"S": owner},
        ":inprogress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
    }


def _claimer_of(params: dict[str, Any]) -> str | None:
    """The id of the request this thread is running under a key, for a write on the idempotency table."""
    owner = _claim.owner
    return owner if owner is not None and params.get("TableName") == _table_name() else None


def _table_name() -> str:
    return get_settings().require("idempotency_table_name")


@once
def persistence_store() -> Any:
    """The DynamoDB idempotency table, as Powertools Idempotency's persistence layer, one per instance. Powertools
    configures a layer once, with the first configuration it meets: a second use would need a layer of its own."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    # Its warning on every keyed request without a Lambda context registered, which is on purpose (replay_or_run)
    warnings.filterwarnings("ignore", "Couldn't determine the remaining time left", UserWarning)

    client = aws.client("dynamodb")
    client.meta.events.register("before-parameter-build.dynamodb.PutItem", _owned, unique_id="kyc-gateway-claims")
    client.meta.events.register(
        "before-parameter-build.dynamodb.DeleteItem", _only_its_own, unique_id="kyc-gateway-releases"
    )
    return DynamoDBPersistenceLayer(table_name=_table_name(), boto3_client=client)
