"""The audit trail's tamper-evident copy (docs/audit.md): every change of the audit table, as its DynamoDB stream
hands it on, written to the archive bucket, whose Object Lock keeps each object unchanged and undeletable for the
retention, whoever asks.

The gateway only ever adds records (a conditional put). A record changed (`MODIFY`), or removed by anything but
DynamoDB's TTL, is a change no code of the gateway makes: it is archived like any other, with the record as it was
and as it became, and counted in `AuditRecordsChanged`, whose alarm says so. A removal by TTL is archived as its keys
only: the record itself is already in the archive, from when it was written.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
from typing import Any
from urllib.parse import quote

from kyc_gateway import aws
from kyc_gateway.observability import count, logger
from kyc_gateway.settings import get_settings

ROUTE = "audit.archive"
TTL_REMOVAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}  # the stream's mark of a TTL deletion
KEY_PREFIX = "records/"
SEQUENCE_DIGITS = 40  # the most a stream's sequence number has


def archive(record: dict[str, Any], context: Any = None) -> None:
    """Write one stream record to the archive bucket, once: a record handed on again (a retried batch) finds its
    object there and leaves it as it is."""
    change = record["dynamodb"]
    changed = _changed_by_hand(record)
    try:
        aws.quick_client("s3").put_object(
            Bucket=get_settings().require("audit_archive_bucket"),
            Key=object_key(record),
            Body=json.dumps(archived(record), sort_keys=True).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except Exception as error:
        if _code(error) != "PreconditionFailed":
            raise
    if changed:  # each time the change is handed on (again, after a failure): its alarm fires at the first
        keys = _plain_image(change["Keys"])
        logger.warning("audit record changed", event=record["eventName"], **keys)
        count("AuditRecordsChanged")


def object_key(record: dict[str, Any]) -> str:
    """`records/<fingerprint>/<at>/<sequence number>.json`, each part URL-encoded and the sequence number (21 to 40
    digits) padded to 40: a record's changes side by side, listed in the order the stream gave them."""
    change = record["dynamodb"]
    keys = _plain_image(change["Keys"])
    fingerprint, at = (quote(str(keys[name]), safe="") for name in ("fingerprint", "at"))
    return f"{KEY_PREFIX}{fingerprint}/{at}/{change['SequenceNumber'].zfill(SEQUENCE_DIGITS)}.json"


def archived(record: dict[str, Any]) -> dict[str, Any]:
    """What the archive keeps of one change: what happened, when, by whom when not the gateway, and the record."""
    change = record["dynamodb"]
    by_ttl = _removed_by_ttl(record)
    kept: dict[str, Any] = {
        "event": record["eventName"],
        "eventId": record.get("eventID"),
        "sequenceNumber": change["SequenceNumber"],
        "changedAt": _time(change.get("ApproximateCreationDateTime")),
        "keys": _plain_image(change["Keys"]),
    }
    if by_ttl:
        kept["removedBy"] = "ttl"
        return kept
    for image, name in (("OldImage", "before"), ("NewImage", "record")):
        if image in change:
            kept[name] = _plain_image(change[image])
    return kept


def _changed_by_hand(record: dict[str, Any]) -> bool:
    event = record["eventName"]
    return event == "MODIFY" or (event == "REMOVE" and not _removed_by_ttl(record))


def _removed_by_ttl(record: dict[str, Any]) -> bool:
    return record["eventName"] == "REMOVE" and record.get("userIdentity") == TTL_REMOVAL


def _plain_image(image: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB's stream gives it (`{"S": ...}`) in plain JSON values. By hand rather than boto3's
    TypeDeserializer, which takes a binary only as bytes: Lambda's event gives it as base64 text, and a record written
    by hand may hold any type."""
    return {name: _plain(typed) for name, typed in image.items()}


def _plain(typed: dict[str, Any]) -> Any:
    ((kind, value),) = typed.items()
    if kind in ("S", "BOOL"):
        return value
    if kind == "NULL":
        return None
    if kind == "N":
        return _number(value)
    if kind == "B":
        return _base64(value)
    if kind == "L":
        return [_plain(item) for item in value]
    if kind == "M":
        return {name: _plain(item) for name, item in value.items()}
    if kind == "NS":
        return sorted(_number(item) for item in value)
    if kind in ("SS", "BS"):
        return sorted(value if kind == "SS" else (_base64(item) for item in value))
    raise ValueError(f"a DynamoDB type this archive does not know: {kind}")


def _number(text: str) -> int | float:
    number = decimal.Decimal(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _base64(value: str | bytes) -> str:
    """A binary as base64 text: Lambda's event gives it so, boto3 as bytes."""
    return value if isinstance(value, str) else base64.b64encode(value).decode()


def _time(epoch: Any) -> str | None:
    """The stream's approximate time of the change (epoch seconds), as UTC ISO 8601."""
    if not isinstance(epoch, (int, float)):
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")


def _code(error: Exception) -> str | None:
    return (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
