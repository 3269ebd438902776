"""`POST /audit/search`: the audit records of one subject, newest first, for compliance (docs/audit.md).

The subject is fingerprinted as the records were, under every key version the secret still holds, and under each
subject kind of the provider (or the one asked for); each fingerprint is one partition of the audit table, read
newest first, and the partitions are merged. `nextToken` is the last record returned (its time and fingerprint),
base64-encoded: the next page starts after it. Each search is itself recorded, under `search|<fingerprint>` for each
fingerprint it read (who searched which subject, without the subject).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from kyc_gateway import audit, aws, registry
from kyc_gateway.api import correlation_id_of, parse_body
from kyc_gateway.errors import GatewayError, RequestValidationError
from kyc_gateway.model import Model
from kyc_gateway.settings import get_settings

ROUTE = "audit.search"
SEARCH_PREFIX = "search|"  # the partition of a search's own record: search|<fingerprint searched>
# A record's time and correlation id: a caller's (kyc_gateway.api.sane_correlation_id) or API Gateway's request id
# (kyc_gateway.api.correlation_id_of), printable ASCII but `~`
_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[!-}]{1,160}\Z")
_AFTER_ANY_CORRELATION_ID = "~"  # sorts after every character a correlation id may hold


def _instant(value: str, field: str) -> tuple[dt.datetime, bool]:
    """An ISO 8601 date or date-time (UTC when it names no offset), and whether it was a date only."""
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC), True
        moment = dt.datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC), False
    except (ValueError, OverflowError):  # OverflowError: an offset that moves it out of years 1 to 9999 in UTC
        raise ValueError(f"{field} must be an ISO 8601 date or date-time") from None


class SearchRequest(Model):
    """Whose records: a provider and a subject (its value as the provider knows it; a CDP ID as `<id type>:<id
    number>`), optionally its kind (else every kind of the provider), a time range (ISO 8601, inclusive; a date
    alone is the whole day, UTC), a page size and the `nextToken` of the page before."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    provider: str
    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    nextToken: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in registry.BY_NAME or not registry.BY_NAME[value].subject_kinds:
            raise ValueError(f"must be one of {', '.join(entry.name for entry in registry.PROVIDERS)}")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            _instant(value, "the date")
        return value

    @model_validator(mode="after")
    def _kind_of_the_provider(self) -> SearchRequest:
        kinds = [kind.name for kind in registry.BY_NAME[self.provider].subject_kinds]
        if self.kind is not None and self.kind not in kinds:
            raise ValueError(f"kind must be one of {', '.join(kinds)} for {self.provider}")
        if self.from_ and self.to and self.lower_bound > self.upper_bound:
            raise ValueError("from must not be after to")
        return self

    @property
    def lower_bound(self) -> str:
        """The least `at` (sort key) in range."""
        return audit.utc_text(_instant(self.from_, "from")[0]) if self.from_ else "0"

    @property
    def upper_bound(self) -> str:
        """The greatest `at` in range: `to` inclusive (a date: its whole day)."""
        if not self.to:
            return _AFTER_ANY_CORRELATION_ID
        moment, whole_day = _instant(self.to, "to")
        last = moment + dt.timedelta(days=1, microseconds=-1) if whole_day else moment
        return audit.utc_text(last) + _AFTER_ANY_CORRELATION_ID


class Search(Model):
    """A search as the API edge hands it over: the body, and who asks under which correlation id (for its record)."""

    body: SearchRequest
    caller: str = Field(exclude=True)
    correlation_id: str = Field(exclude=True)


def parse(event: dict[str, Any], model: type[Search]) -> Search:
    body = parse_body(event, SearchRequest)
    return model(body=body, caller=audit.caller_of(event), correlation_id=correlation_id_of(event))


# What every answered record carries (null where the operation had none): who did what, when, with what outcome.
ANSWERED_FIELDS = (
    "time",
    "caller",
    "route",
    "provider",
    "operation",
    "status",
    "code",
    "providerStatus",
    "providerCode",
    "providerRequestId",
    "correlationId",
    "apiRequestId",
    "idempotencyKey",
    "purpose",
    "functionVersion",
)


def search(request: Search) -> dict[str, Any]:
    """One page of the subject's records, newest first, and the token of the next page (null on the last)."""
    body = request.body
    held = audit.keys()
    searched = _fingerprints(body, held)
    code, status, found = "ok", 200, 0
    try:  # a search refused for its page token is recorded too: it names a subject
        cursor = _cursor(body.nextToken, {fingerprint for fingerprint, _, _ in searched})
        records, more = _page(body, [fingerprint for fingerprint, _, _ in searched], cursor)
        found = len(records)
        # A record leaves out what it has no value for; the answer names every field a record has, null where none.
        records = [dict.fromkeys(ANSWERED_FIELDS) | record for record in records]
        last = records[-1] if records and more else None
        token = _token(last["at"], last["fingerprint"]) if last else None
        return {"records": records, "nextToken": token}
    except Exception as error:
        known = error if isinstance(error, GatewayError) else GatewayError()
        code, status = known.code, known.status
        raise
    finally:
        fields = {
            "caller": request.caller,
            "route": ROUTE,
            "provider": body.provider,
            "operation": "search",
            "status": status,
            "code": code,
            "correlationId": request.correlation_id,
            "recordsFound": found,
        }
        for version in held.versions:  # each record names the key version of the fingerprint it is under
            targets = [
                (SEARCH_PREFIX + fingerprint, kind) for fingerprint, kind, made_by in searched if made_by == version
            ]
            audit.write(fields, targets, version)


def _fingerprints(body: SearchRequest, held: audit.AuditKeys) -> list[tuple[str, str, str]]:
    """(fingerprint, kind, key version) of the subject under each kind asked and each key version held."""
    entry = registry.BY_NAME[body.provider]
    kinds = [body.kind] if body.kind else [kind.name for kind in entry.subject_kinds]
    searched = []
    for kind in kinds:
        form = audit.searchable(body.provider, kind, body.subject)
        if form is not None:
            searched += [(audit.fingerprint(key, form), kind, version) for version, key in held.versions.items()]
    if not searched:
        what = " or ".join(kind.what for kind in entry.subject_kinds if kind.name in kinds)
        raise _invalid("subject", f"is not {what}")
    return searched


def _page(
    body: SearchRequest, fingerprints: list[str], cursor: tuple[str, str] | None
) -> tuple[list[dict[str, Any]], bool]:
    """The newest `limit` records of all the partitions (before the cursor), and whether more may follow."""
    upper = min(body.upper_bound, cursor[0]) if cursor else body.upper_bound
    found, more = [], False
    for fingerprint in fingerprints:
        items, partition_more = _query(fingerprint, body.lower_bound, upper, body.limit + 1)
        found += [item for item in items if cursor is None or (item["at"], item["fingerprint"]) < cursor]
        more = more or partition_more
    found.sort(key=lambda item: (item["at"], item["fingerprint"]), reverse=True)
    return found[: body.limit], more or len(found) > body.limit


def _query(fingerprint: str, lower: str, upper: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    if lower > upper:
        return [], False
    answer = aws.client("dynamodb").query(
        TableName=get_settings().require("audit_table_name"),
        KeyConditionExpression="fingerprint = :fingerprint AND #at BETWEEN :lower AND :upper",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":fingerprint": {"S": fingerprint}, ":lower": {"S": lower}, ":upper": {"S": upper}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [audit.plain_item(item) for item in answer.get("Items", [])], "LastEvaluatedKey" in answer


def _token(at: str, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"at": at, "fingerprint": fingerprint}).encode()).decode()


def _cursor(token: str | None, fingerprints: set[str]) -> tuple[str, str] | None:
    """The (at, fingerprint) a page token names; 400 for anything that is not a token of this same search."""
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise _invalid("nextToken", "is not a token this search answered") from None
    if (
        not isinstance(value, dict)
        or set(value) != {"at", "fingerprint"}
        or value["fingerprint"] not in fingerprints
        or not isinstance(value["at"], str)
        or not _AT.match(value["at"])
    ):
        raise _invalid("nextToken", "is not a token this search answered")
    return value["at"], value["fingerprint"]


def _invalid(field: str, issue: str) -> RequestValidationError:
    return RequestValidationError(details=[{"field": field, "issue": issue, "type": "body"}])
