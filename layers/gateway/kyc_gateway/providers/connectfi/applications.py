"""The latest confirmed state of each connectFi application, in the applications table."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kyc_gateway import aws
from kyc_gateway.settings import get_settings

COMPLETED = "completed"
_FIELDS = ("applicationId", "customerId", "reference", "aggregatorId", "status", "outcome")


def _table() -> str:
    return get_settings().require("applications_table_name")


def record(state: dict[str, Any]) -> dict[str, Any] | None:
    """Store the provider's authoritative state; the stored item, or None when the write would move a
    completed application backwards (an older state arriving late), in which case nothing changes."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    values = {f":{name}": _attribute(state.get(name)) for name in _FIELDS[1:]}
    values |= {
        ":entities": {"S": json.dumps(state.get("entityApplications") or [])},
        ":now": {"S": now},
        ":completed": {"S": COMPLETED},
    }
    assignments = ", ".join(f"#{name} = :{name}" for name in _FIELDS[1:])
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": state["applicationId"]}},
            UpdateExpression=f"SET {assignments}, entityApplications = :entities, updatedAt = :now, "
            "createdAt = if_not_exists(createdAt, :now)",
            # A completed application never moves backwards.
            ConditionExpression="attribute_not_exists(applicationId) OR #status <> :completed OR :status = :completed",
            ExpressionAttributeNames={f"#{name}": name for name in _FIELDS[1:]},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except aws.conditional_check_failed():
        return None
    return _plain(reply["Attributes"])


def mark_published(application_id: str, status: str) -> None:
    """Remember that the change to `status` was announced, unless the status moved on meanwhile."""
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": application_id}},
            UpdateExpression="SET publishedStatus = :status",
            ConditionExpression="#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}},
        )
    except aws.conditional_check_failed():
        pass  # a newer status will be announced by its own processing


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
