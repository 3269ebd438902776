"""Work done once per content within a window: claim a key in the idempotency table, then complete or release it.

The webhook processor's deduplication. It used Powertools Idempotency; making the same DynamoDB calls directly, as
here, saves importing it: about 8 ms of CPU on a cold instance with boto3 already loaded, 3.1% of the processor's
first record (`make bench-copies`, docs/performance.md). The processor needs none of what Powertools adds: no
stored answer to replay, no payload to check, only "already done", "running elsewhere" or "mine to do". The
Idempotency-Key routes keep Powertools Idempotency, which they need for both, and load it only when a key is sent.

A record is the one Powertools writes, under the same id (`<prefix>#<md5 of the content as sorted JSON>`), so the
template's per-prefix access applies (the records Powertools wrote are read as these):
`status` INPROGRESS or COMPLETED, `expiration` (epoch seconds, the table's TTL) and, while in progress,
`in_progress_expiration` (epoch milliseconds: when the claiming invocation will have ended) and `claimOwner` (the
claim's own id: a claim DynamoDB applied whose answer was lost is taken again by botocore's retry of the same put,
instead of being found "in progress elsewhere" by the very invocation holding it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kyc_gateway import aws, clock
from kyc_gateway.settings import get_settings

ResultT = TypeVar("ResultT")

_IN_PROGRESS = "in_progress_expiration"
_OWNER = "claimOwner"  # the attribute the Idempotency-Key routes' claims carry too (kyc_gateway.idempotency_keys)
_CLAIMABLE = (
    "attribute_not_exists(#id) OR #expiration < :now"
    " OR (#status = :in_progress AND attribute_exists(#in_progress) AND #in_progress < :now_ms)"
    " OR (#status = :in_progress AND #owner = :owner)"
)


class ClaimedElsewhere(Exception):
    """The same content is being processed by another invocation: try again later."""

    code = "in_progress_elsewhere"
    gateway_fault = False  # duplicates are expected (connectFi resends, a send whose answer was lost is queued twice)


def key_of(prefix: str, content: Mapping[str, Any]) -> str:
    digest = hashlib.md5(json.dumps(content, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}#{digest}"


def run_once(
    prefix: str,
    content: Mapping[str, Any],
    work: Callable[[], ResultT],
    *,
    window_seconds: int,
    context: Any,
    done: Callable[[ResultT], bool] = lambda result: True,
) -> ResultT | None:
    """`work()` unless `content` was already done within the window (then None). While it runs, the claim holds
    until the invocation's end (`context`); when it raises, the claim is released so a retry can run it. When
    `done(result)` is false the claim is released too (without an error): the same content comes to be done later,
    and a delivery of it then runs again."""
    key = key_of(prefix, content)
    until_ms = int(clock.now() * 1000) + context.get_remaining_time_in_millis()
    if not _claim(key, until_ms=until_ms, window_seconds=window_seconds):
        return None
    try:
        result = work()
    except BaseException:
        _release(key)
        raise
    if not done(result):
        _release(key)
        return result
    _table().update_item(
        TableName=_name(),
        Key={"id": {"S": key}},
        UpdateExpression="SET #status = :completed, #expiration = :expiration REMOVE #in_progress, #owner",
        ExpressionAttributeNames={
            "#status": "status",
            "#expiration": "expiration",
            "#in_progress": _IN_PROGRESS,
            "#owner": _OWNER,
        },
        ExpressionAttributeValues={
            ":completed": {"S": "COMPLETED"},
            ":expiration": {"N": str(int(clock.now()) + window_seconds)},
        },
    )
    return result


def _release(key: str) -> None:
    with contextlib.suppress(Exception):  # unreleased, the claim lapses when the invocation ends anyway
        _table().delete_item(TableName=_name(), Key={"id": {"S": key}})


def _claim(key: str, *, until_ms: int, window_seconds: int) -> bool:
    """True when this invocation now holds `key`; False when its work is done; ClaimedElsewhere while another
    invocation holds it."""
    now = clock.now()
    owner = uuid.uuid4().hex  # this claim's own: botocore's retries of the put send the same one
    try:
        _table().put_item(
            TableName=_name(),
            Item={
                "id": {"S": key},
                "status": {"S": "INPROGRESS"},
                "expiration": {"N": str(int(now) + window_seconds)},
                _IN_PROGRESS: {"N": str(until_ms)},
                _OWNER: {"S": owner},
            },
            ConditionExpression=_CLAIMABLE,
            ExpressionAttributeNames={
                "#id": "id",
                "#expiration": "expiration",
                "#status": "status",
                "#in_progress": _IN_PROGRESS,
                "#owner": _OWNER,
            },
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":now_ms": {"N": str(int(now * 1000))},
                ":in_progress": {"S": "INPROGRESS"},
                ":owner": {"S": owner},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except aws.conditional_check_failed() as taken:
        if taken.response["Item"]["status"]["S"] == "COMPLETED":  # the record that failed the condition
            return False
        raise ClaimedElsewhere from None
    return True


def _table() -> Any:
    return aws.client("dynamodb")


def _name() -> str:
    return get_settings().require("idempotency_table_name")
