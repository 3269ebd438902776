"""The latest confirmed state of each connectFi application, in the applications table, and the one way a change
of it is stored and announced (ApplicationStatusChanged on EventBridge), once, whichever path saw it first: the
webhook processor, the reconciliation, or the identification that started the application."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from kyc_gateway import aws, clock
from kyc_gateway.observability import logger
from kyc_gateway.settings import get_settings

COMPLETED = "completed"
EVENT_SOURCE = "kyc-gateway.connectfi"
EVENT_TYPE = "ApplicationStatusChanged"
OPEN_INDEX = "open-by-update"  # applications that are not final, by their last update (a sparse index)
_FIELDS = ("applicationId", "customerId", "reference", "aggregatorId", "status", "outcome")


def _table() -> str:
    return get_settings().require("applications_table_name")


def timestamp(seconds: float) -> str:
    """2026-11-22T10:00:00.000Z: sorts as the time it names."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_and_announce(state: dict[str, Any]) -> dict[str, Any] | None:
    """Store the provider's authoritative state and, when its status is not yet announced, announce it once: the
    announcement is claimed with a conditional write first, so two paths seeing the same change (a webhook and
    the reconciliation) announce it once. The stored item with `announced` (whether this call announced a change),
    or None for a stale state (nothing changes)."""
    stored = _record(state)
    if stored is None:
        logger.info("stale state ignored", application_id=state.get("applicationId"))
        return None
    previous = stored.get("publishedStatus")
    if stored["status"] == previous or not _claim(stored["applicationId"], stored["status"], previous):
        return stored | {"announced": False}  # announced already, or being announced by whoever claimed it
    try:
        _announce(stored, previous)
    except BaseException:
        _release(stored["applicationId"], stored["status"], previous)  # the retry announces it
        raise
    return stored | {"announced": True}


def _record(state: dict[str, Any]) -> dict[str, Any] | None:
    """The stored item after the write, or None when the write would move a completed application backwards (an
    older state arriving late). An application that is not final is kept in the open index."""
    values = {f":{name}": _attribute(state.get(name)) for name in _FIELDS[1:]}
    values |= {
        ":entities": {"S": json.dumps(state.get("entityApplications") or [])},
        ":now": {"S": timestamp(clock.now())},
        ":completed": {"S": COMPLETED},
    }
    assignments = ", ".join(f"#{name} = :{name}" for name in _FIELDS[1:])
    final = state.get("status") == COMPLETED
    if not final:
        values[":open"] = {"S": "open"}
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": state["applicationId"]}},
            UpdateExpression=f"SET {assignments}, entityApplications = :entities, updatedAt = :now, "
            "createdAt = if_not_exists(createdAt, :now)" + (" REMOVE #open" if final else ", #open = :open"),
            # A completed application never moves backwards.
            ConditionExpression="attribute_not_exists(applicationId) OR #status <> :completed OR :status = :completed",
            ExpressionAttributeNames={f"#{name}": name for name in (*_FIELDS[1:], "open")},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except aws.conditional_check_failed():
        return None
    return _plain(reply["Attributes"])


def _claim(application_id: str, status: str, previous: str | None) -> bool:
    """Mark `status` as announced, if it is still the stored status and nobody marked it since we read `previous`."""
    return _swap_published(application_id, status, expected=previous, new=status)


def _release(application_id: str, status: str, previous: str | None) -> None:
    _swap_published(application_id, status, expected=status, new=previous)


def _swap_published(application_id: str, status: str, *, expected: str | None, new: str | None) -> bool:
    values: dict[str, Any] = {":status": {"S": status}}
    condition = "#status = :status AND "
    if expected is None:
        condition += "attribute_not_exists(publishedStatus)"
    else:
        condition += "publishedStatus = :expected"
        values[":expected"] = {"S": expected}
    if new is None:
        update = "REMOVE publishedStatus"
    else:
        update = "SET publishedStatus = :new"
        values[":new"] = {"S": new}
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": application_id}},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
    except aws.conditional_check_failed():
        return False
    return True


def _announce(stored: dict[str, Any], previous: str | None) -> None:
    detail = {
        "applicationId": stored["applicationId"],
        "customerId": stored["customerId"],
        "reference": stored["reference"],
        "previousStatus": previous,
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
        raise RuntimeError("EventBridge refused the event")


def due(updated_before: float) -> Iterator[dict[str, str]]:
    """Applications that are not final and have not changed since `updated_before` (epoch seconds), oldest first:
    `applicationId`, `customerId`, `updatedAt`."""
    arguments: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": OPEN_INDEX,
        "KeyConditionExpression": "#open = :open AND updatedAt < :before",
        "ExpressionAttributeNames": {"#open": "open"},
        "ExpressionAttributeValues": {":open": {"S": "open"}, ":before": {"S": timestamp(updated_before)}},
    }
    while True:
        page = aws.client("dynamodb").query(**arguments)
        for item in page.get("Items", []):
            yield {name: value["S"] for name, value in item.items() if "S" in value}
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get(application_id: str) -> dict[str, Any] | None:
    item = (
        aws.client("dynamodb")
        .get_item(TableName=_table(), Key={"applicationId": {"S": application_id}}, ConsistentRead=True)
        .get("Item")
    )
    return _plain(item) if item else None


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """What GET /connectfi/applications/{applicationId} answers."""
    keys = (*_FIELDS, "entityApplications", "createdAt", "updatedAt")
    return {key: item.get(key) for key in keys}


def _attribute(value: Any) -> dict[str, Any]:
    return {"NULL": True} if value is None else {"S": str(value)}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    plain = {name: (None if "NULL" in value else value.get("S")) for name, value in item.items()}
    plain["entityApplications"] = json.loads(plain.get("entityApplications") or "[]")
    return plain
