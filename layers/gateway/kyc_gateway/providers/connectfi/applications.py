"""The latest confirmed state of each connectFi application, in the applications table, and the one way a change
of it is stored and announced (ApplicationStatusChanged on EventBridge), once, whichever path saw it first: the
webhook processor, the reconciliation, the identification that started the application, or an update (their
answers through write_answers.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from kyc_gateway import aws, clock
from kyc_gateway.observability import logger
from kyc_gateway.providers.connectfi.common import PROVIDER
from kyc_gateway.settings import get_settings

COMPLETED = "completed"
EVENT_SOURCE = "kyc-gateway.connectfi"
EVENT_TYPE = "ApplicationStatusChanged"
# Applications that still need the reconciliation: not final, or final but not yet announced. A sparse index,
# sorted by `checkedAt`: the last time the application was written or a check of it failed.
OPEN_INDEX = "open-by-check"
# A claimed announcement whose claimer died (a timeout between the claim and the event) is free again after this.
ANNOUNCE_LEASE_SECONDS = 60
_FIELDS = ("applicationId", "customerId", "reference", "aggregatorId", "status", "outcome")


class ObservedMeanwhile(RuntimeError):
    """A write's answer arrived after another state of the application was observed while the write was on its way:
    which of the two connectFi made last cannot be told from the times."""


class AnnouncementFailed(RuntimeError):
    """The state is stored but EventBridge did not take its event: the claim is released for a retry."""

    code = "announcement_failed"


def _table() -> str:
    return get_settings().require("applications_table_name")


def timestamp(seconds: float) -> str:
    """2026-11-22T10:00:00.000Z: sorts as the time it names."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_and_announce(
    state: dict[str, Any], *, observed_at: float | None = None, sent_at: float | None = None
) -> dict[str, Any] | None:
    """Store the provider's authoritative state, observed at `observed_at` (epoch seconds; None: a state current
    now), and announce a status not announced yet, once, whichever path saw it: the announcement is claimed first
    (with a lease, so a claimer that dies frees it) and marked published only once EventBridge took it. Until its
    final status is published an application stays in the open index, so the reconciliation finds whatever a crash
    or a failure left unannounced. The stored item with `announced` (whether this call announced), or None for a
    stale state (nothing changes). A write's answer gives the write's `sent_at` too: another state observed since
    then, unlike it, raises ObservedMeanwhile (nothing stored)."""
    stored = _record(
        state,
        timestamp(clock.now() if observed_at is None else observed_at),
        since=None if sent_at is None else timestamp(sent_at),
    )
    if stored is None:
        logger.info("stale state ignored", application_id=state.get("applicationId"))
        return None
    application_id = stored["applicationId"]
    if stored["status"] == stored.get("publishedStatus"):
        if stored["status"] == COMPLETED:
            _close(application_id)  # a repeated final state: nothing left to announce
        return stored | {"announced": False}
    after = _announce_own(stored)
    # A newer state stored while this one was being announced found the claim taken, and left it to the claimer:
    # it is announced next (best effort: this call's own state went out; the reconciliation announces what is left).
    try:
        latest = after
        while isinstance(latest, dict) and latest["status"] != latest.get("publishedStatus"):
            latest = _announce_own(latest)
    except Exception:  # noqa: BLE001 - see above
        logger.warning("application state not announced yet", provider=PROVIDER, application_id=application_id)
    return stored | {"announced": after is not False}


def _announce_own(stored: dict[str, Any]) -> dict[str, Any] | bool | None:
    """Claim and announce the stored status, then mark it published: the item after (None: the claim was no
    longer this one's when marked), or False when the claim was not taken (announced already, or being announced
    by whoever claimed it, who announces what follows)."""
    application_id, status = stored["applicationId"], stored["status"]
    claimed, previous = _claim(application_id, status)
    if not claimed:
        return False
    try:
        _announce(stored, previous)
    except Exception as error:
        _update(application_id, "REMOVE announcing, announcingUntil", "announcing = :status", {":status": status})
        raise AnnouncementFailed(type(error).__name__) from error
    return _published(application_id, status)


def _record(
    state: dict[str, Any], observed_at: str, *, since: str | None = None, again: bool = True
) -> dict[str, Any] | None:
    """The stored item after the write, or None for an older state arriving late: asked for before the stored one
    was (`observedAt`: a slow answer must not undo a newer one), or moving a completed application backwards.
    `updatedAt` moves only when the state changes (a check that finds it as stored touches `checkedAt` and
    `observedAt` alone), so it says how long an application has stood still. Every change puts the application in
    the open index: it leaves it once its final status is published (or it stood still too long)."""
    values = {f":{name}": _attribute(state.get(name)) for name in _FIELDS[1:]}
    values |= {
        ":entities": {"S": json.dumps(state.get("entityApplications") or [])},
        ":now": {"S": timestamp(clock.now())},
        ":observed": {"S": observed_at},
        ":completed": {"S": COMPLETED},
        ":open": {"S": "open"},
    } | ({":since": {"S": since}} if since else {})
    # a write's answer: no other state observed while the write was on its way
    unseen = " AND (attribute_not_exists(observedAt) OR observedAt < :since)" if since else ""
    assignments = ", ".join(f"#{name} = :{name}" for name in _FIELDS[1:])
    differs = " OR ".join(f"#{name} <> :{name}" for name in _FIELDS[1:])
    names = {f"#{name}": name for name in (*_FIELDS[1:], "open")}
    key = {"applicationId": {"S": state["applicationId"]}}
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=key,
            UpdateExpression=f"SET {assignments}, entityApplications = :entities, updatedAt = :now, checkedAt = :now, "
            "observedAt = :observed, createdAt = if_not_exists(createdAt, :now), #open = :open REMOVE unknownChecks",
            # Not older than the stored state; a completed application never moves backwards; a state as stored is
            # not a change.
            ConditionExpression=f"{_NOT_OLDER}{unseen}"
            " AND (attribute_not_exists(applicationId) OR #status <> :completed OR :status = :completed)"
            f" AND (attribute_not_exists(applicationId) OR {differs} OR entityApplications <> :entities)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except aws.conditional_check_failed() as refused:
        stored = _plain(refused.response.get("Item") or {})
        if (stored.get("observedAt") or "") > observed_at:
            return None
        if stored.get("status") == COMPLETED and state.get("status") != COMPLETED:
            return None
        if since and (stored.get("observedAt") or "") >= since and not _same(stored, state):
            raise ObservedMeanwhile(state["applicationId"]) from None
        same = " AND ".join(f"#{name} = :{name}" for name in _FIELDS[1:]) + " AND entityApplications = :entities"
        try:
            reply = aws.client("dynamodb").update_item(  # nothing changed: its check times only, the queue as it was
                TableName=_table(),
                Key=key,
                UpdateExpression="SET checkedAt = :now, observedAt = :observed REMOVE unknownChecks",
                # still the state found as stored: another state written meanwhile is compared with this one again
                ConditionExpression=f"attribute_exists(applicationId) AND {same} AND {_NOT_OLDER}",
                ExpressionAttributeNames={name: field for name, field in names.items() if name != "#open"},
                ExpressionAttributeValues={
                    name: value for name, value in values.items() if name not in (":open", ":completed", ":since")
                },
                ReturnValues="ALL_NEW",
            )
        except aws.conditional_check_failed():
            return _record(state, observed_at, since=since, again=False) if again else None
    return _plain(reply["Attributes"])


def _same(stored: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether a stored item holds `state` (as _record stores it)."""
    fields_alike = all(stored.get(name) == _attribute(state.get(name)).get("S") for name in _FIELDS[1:])
    return fields_alike and stored.get("entityApplications") == (state.get("entityApplications") or [])


# A state is stored unless the stored one was asked for later (ISO 8601 UTC timestamps sort as the times they name).
_NOT_OLDER = "(attribute_not_exists(observedAt) OR observedAt <= :observed)"


def _claim(application_id: str, status: str) -> tuple[bool, str | None]:
    """Take the announcement of `status` if it is still the stored status, is not published, and nobody holds a
    live claim on it; (taken, the status published before it)."""
    now = clock.now()
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": application_id}},
            UpdateExpression="SET announcing = :status, announcingUntil = :until",
            ConditionExpression="#status = :status AND (attribute_not_exists(publishedStatus) OR publishedStatus <> "
            ":status) AND (attribute_not_exists(announcingUntil) OR announcingUntil < :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":until": {"N": repr(now + ANNOUNCE_LEASE_SECONDS)},
                ":now": {"N": repr(now)},
            },
            ReturnValues="ALL_OLD",
        )
    except aws.conditional_check_failed():
        return False, None
    return True, reply["Attributes"].get("publishedStatus", {}).get("S")


def _published(application_id: str, status: str) -> dict[str, Any] | None:
    """Mark `status` announced and drop the claim; a published final status leaves the open index. The item after
    (None: the claim was no longer this one's). Failing here (after the event was sent) leaves it claimed: once the
    lease ends it is announced again (at least once)."""
    close = ", #open" if status == COMPLETED else ""
    return _update(
        application_id,
        f"SET publishedStatus = :status REMOVE announcing, announcingUntil{close}",
        "announcing = :status",
        {":status": status},
        names={"#open": "open"} if close else None,
        new=True,
    )


def _close(application_id: str) -> None:
    _update(
        application_id,
        "REMOVE #open",
        "#status = :status AND publishedStatus = :status",
        {":status": COMPLETED},
        names={"#open": "open", "#status": "status"},
    )


def postpone(application_id: str) -> None:
    """A check that failed: the application goes to the back of the reconciliation's queue."""
    _update(application_id, "SET checkedAt = :now", "attribute_exists(#open)", {}, names={"#open": "open"})


def retire(application_id: str, updated_at: str) -> bool:
    """An application that has stood still too long: the reconciliation stops checking it; its state stays. False
    when it changed since `updated_at` was read (or left the queue otherwise, or completed)."""
    left = _update(
        application_id,
        "REMOVE #open",
        "attribute_exists(#open) AND updatedAt = :seen AND #status <> :completed",
        {":seen": updated_at, ":completed": COMPLETED},
        names={"#open": "open", "#status": "status"},
    )
    return left is not None


def stood_still_since(item: dict[str, Any]) -> float | None:
    """When the stored state last changed (epoch seconds), from its updatedAt; None for an item written without a
    readable one (by hand: the gateway writes it with every application): such an item is never retired."""
    try:
        return dt.datetime.fromisoformat(item["updatedAt"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


# connectFi not knowing an application this many checks in a row closes it (checking it again would never succeed).
UNKNOWN_CHECKS_TO_CLOSE = 3


def unknown_again(application_id: str, checked_at: str) -> bool:
    """connectFi did not know the application, due since `checked_at`: it goes to the back of the queue, and leaves
    it the third time in a row (UNKNOWN_CHECKS_TO_CLOSE; a state stored meanwhile starts the count over), so that a
    wrong base URL or account, fixed within a few runs, closes nothing. Counted once however many runs overlapping
    found it so (each read it due since the same `checked_at`). True when it left the queue."""
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": application_id}},
            UpdateExpression="SET checkedAt = :now ADD unknownChecks :one",
            ConditionExpression="attribute_exists(#open) AND checkedAt = :seen",
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues={
                ":now": {"S": timestamp(clock.now())},
                ":one": {"N": "1"},
                ":seen": {"S": checked_at},
            },
            ReturnValues="UPDATED_NEW",
        )
    except aws.conditional_check_failed():
        return False  # it left the queue meanwhile, or another run counted this round
    if int(reply["Attributes"]["unknownChecks"]["N"]) < UNKNOWN_CHECKS_TO_CLOSE:
        return False
    left = _update(
        application_id,
        "REMOVE #open",
        "attribute_exists(#open) AND unknownChecks >= :limit",
        {},
        names={"#open": "open"},
        numbers={":limit": str(UNKNOWN_CHECKS_TO_CLOSE)},
    )
    return left is not None


def _update(
    application_id: str,
    expression: str,
    condition: str,
    values: dict[str, str],
    *,
    names: dict[str, str] | None = None,
    numbers: dict[str, str] | None = None,
    new: bool = False,
) -> dict[str, Any] | None:
    """One conditional update: the item after it (when `new`, else empty), or None when the condition does not hold
    (someone else changed the item first)."""
    attribute_values = {name: {"S": value} for name, value in values.items()}
    attribute_values |= {name: {"N": value} for name, value in (numbers or {}).items()}
    if ":now" in expression:
        attribute_values[":now"] = {"S": timestamp(clock.now())}
    arguments: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
    if attribute_values:
        arguments["ExpressionAttributeValues"] = attribute_values
    if new:
        arguments["ReturnValues"] = "ALL_NEW"
    try:
        reply = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key={"applicationId": {"S": application_id}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            **arguments,
        )
    except aws.conditional_check_failed():
        return None
    return _plain(reply["Attributes"]) if new else {}


def _announce(stored: dict[str, Any], previous: str | None) -> None:
    detail = {
        "applicationId": stored["applicationId"],
        "customerId": stored["customerId"],
        "reference": stored["reference"],
        "previousStatus": previous,
        "status": stored["status"],
        "outcome": stored["outcome"],
        "observedAt": stored["observedAt"],
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


def due(checked_before: float) -> Iterator[dict[str, str]]:
    """Applications the reconciliation should check: in the open index and neither written nor checked since
    `checked_before` (epoch seconds), longest waiting first: `applicationId`, `customerId`, `checkedAt`."""
    arguments: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": OPEN_INDEX,
        "KeyConditionExpression": "#open = :open AND checkedAt < :before",
        "ExpressionAttributeNames": {"#open": "open"},
        "ExpressionAttributeValues": {":open": {"S": "open"}, ":before": {"S": timestamp(checked_before)}},
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
    plain = {name: value.get("S") for name, value in item.items()}  # a NULL attribute holds no S: None
    plain["entityApplications"] = json.loads(plain.get("entityApplications") or "[]")
    return plain
