"""The audit trail (docs/audit.md): one record per provider operation, kept for years, free of personal data.

A record says who asked (the IAM principal, or `webhook` / `schedule`), through which route, provider and operation,
what the gateway answered and what the provider answered (HTTP status, code, request id), under which correlation id
and Idempotency-Key, and whether it was a replay. Its subjects (a KRA PIN, an ID number, a connectFi customer...) are
never stored: each is a fingerprint, HMAC-SHA256 under a key held in Secrets Manager over `<provider>|<kind>|<value in
its canonical form>`, so the table holds nothing that could be reversed without the key (a plain hash of an
11-character KRA PIN can be reversed by trying every PIN).

The record is written once per subject (the table's partition is the fingerprint, so each subject can be searched),
with a conditional put that never overwrites; several subjects go in one transaction. A write that fails is retried
within the request's time; if it still fails, the caller gets its answer all the same, the record (fingerprints only)
goes into the request's log line and `AuditWriteFailures` is counted (its alarm is in the template).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ConfigDict, model_validator

from kyc_gateway import aws, clock, observability, registry
from kyc_gateway.lazy import once
from kyc_gateway.model import Model, ascii_upper
from kyc_gateway.observability import count, note, provider_calls
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings

Subjects = Iterable[tuple[str, str]]
"""A provider operation's subjects: (kind, value), the kinds its registry entry declares."""

NOT_WRITTEN = "audit_records_not_written"  # the request log line's field holding a record the table did not take
_CONDITION = "attribute_not_exists(fingerprint)"  # a record is never replaced
_ATTEMPT_SECONDS = 3.0  # the most one write takes (aws.quick_client: 1 s to connect, 2 s to read)
_MAX_ATTEMPTS = 3
_MIN_KEY_LENGTH = 32


def _upper(value: str) -> str:
    return ascii_upper(value.strip())


def _lower(value: str) -> str:
    return value.strip().lower()


def _exact(value: str) -> str:
    return value.strip()


def _typed(value: str) -> str:
    """`<id type>:<id number>`: the number as written on any document (spaces and hyphens dropped, upper case)."""
    kind, separator, number = value.partition(":")
    kind, number = kind.strip(), ascii_upper(re.sub(r"[\s-]", "", number))
    return f"{kind}:{number}" if separator and kind and number else ""


CANONICAL_FORMS: dict[str, Callable[[str], str]] = {"upper": _upper, "lower": _lower, "exact": _exact, "typed": _typed}


def canonical(provider: str, kind: str, value: str) -> str | None:
    """`<provider>|<kind>|<value in canonical form>`; None when `value` cannot be a subject of that kind. A kind the
    provider does not declare is a KeyError."""
    normal = CANONICAL_FORMS[_declared(provider, kind).form](value)
    return f"{provider}|{kind}|{normal}" if normal else None


def searchable(provider: str, kind: str, value: str) -> str | None:
    """`canonical`, for a value a request of the kind could carry (its format in the registry); None for any other,
    which no record can be under. Records are written under `canonical` alone: a subject is never dropped."""
    form = canonical(provider, kind, value)
    pattern = _declared(provider, kind).pattern
    if form is None or (pattern and not re.fullmatch(pattern, form.split("|", 2)[2])):
        return None
    return form


def _declared(provider: str, kind: str) -> registry.SubjectKind:
    return {entry.name: entry for entry in registry.BY_NAME[provider].subject_kinds}[kind]


class AuditKeys(Model):
    """The audit key secret: `{"current": "v2", "v1": "<key>", "v2": "<key>"}`. Every member but `current` is a key
    version; records are written under `current`, and a search tries every version held (docs/audit.md: rotation)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    current: str

    @model_validator(mode="after")
    def _versions_are_keys(self) -> AuditKeys:
        versions = self.model_extra or {}
        if self.current not in versions:
            raise ValueError("current names no key version")
        if not all(isinstance(key, str) and len(key) >= _MIN_KEY_LENGTH for key in versions.values()):
            raise ValueError(f"every key version must be a string of at least {_MIN_KEY_LENGTH} characters")
        return self

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.model_extra or {})


@once
def _key_secret() -> ProviderCredentials[AuditKeys]:
    return ProviderCredentials(get_settings().require("audit_key_secret_id"), AuditKeys)


def keys() -> AuditKeys:
    """The key versions, through the secrets cache (read again after SECRETS_MAX_AGE_SECONDS: a rotation is seen)."""
    return _key_secret().get()


def fingerprint(key: str, canonical_form: str) -> str:
    return hmac.new(key.encode(), canonical_form.encode(), hashlib.sha256).hexdigest()


def caller_of(event: Mapping[str, Any]) -> str:
    """The IAM principal API Gateway authenticated (REST: identity.userArn or caller; HTTP API: authorizer.iam)."""
    context = event.get("requestContext")
    context = context if isinstance(context, dict) else {}
    identity = context.get("identity") if isinstance(context.get("identity"), dict) else {}
    authorizer = context.get("authorizer") if isinstance(context.get("authorizer"), dict) else {}
    iam = authorizer.get("iam") if isinstance(authorizer.get("iam"), dict) else {}
    for value in (identity.get("userArn"), iam.get("userArn"), identity.get("caller"), iam.get("callerId")):
        if isinstance(value, str) and value:
            return value
    return "unauthenticated"


def provider_outcome(answer: Any = None, error: Any = None, *, first_call: int = 0) -> dict[str, Any]:
    """The provider's side of an operation: its HTTP status, code and request id, from the error that ended it, or
    from its answer (a ProviderResponse, or the gateway's own answer built on one), or from its last call. Its calls
    are the request's from `first_call` on (a scheduled run makes several operations in one request)."""
    calls = [{"operation": call["operation"], "status": call["status"]} for call in provider_calls()[first_call:]]
    status = code = request_id = None
    if error is not None:
        status, code, request_id = error.provider_status, error.provider_code, error.provider_request_id
    elif answer is not None:
        status, request_id = getattr(answer, "status", None), _request_id(answer)
    if status is None and calls:
        status = calls[-1]["status"]
    return {"providerStatus": status, "providerCode": code, "providerRequestId": request_id, "providerCalls": calls}


def _request_id(answer: Any) -> str | None:
    body = answer if isinstance(answer, Mapping) else getattr(answer, "body", None)
    value = (body.get("request_id") or body.get("requestId")) if isinstance(body, Mapping) else None
    return str(value) if value else None


def record(fields: dict[str, Any], subjects: Subjects) -> None:
    """Write the audit record of one provider operation: `fields` (caller, route, provider, operation, status, code,
    correlationId, apiRequestId; provider outcome, idempotencyKey, replay) under each of `subjects`, with the
    function version that wrote it. An unreadable key, a subject
    kind its provider does not declare (a bug: the sample events' test checks their subjects against the registry)
    or a table that refuses the record never changes the caller's answer, which may be a write already done: the
    record is logged and counted instead."""
    provider = fields["provider"]
    try:
        held = keys()
    except Exception as error:  # noqa: BLE001 - no key, no fingerprint: the record goes to the log without subjects
        write(fields, [], None, failure=f"audit key unavailable ({type(error).__name__})")
        return
    version = held.current
    targets: dict[str, str] = {}  # by fingerprint: one subject written two ways is one item (a transaction refuses two)
    for kind, value in subjects:
        try:
            form = canonical(provider, kind, str(value))
        except KeyError:  # the kind's name only: the value may be personal data
            write(fields, [], None, failure=f"undeclared subject kind {kind!r}")
            return
        if form is not None:
            targets.setdefault(fingerprint(held.versions[version], form), kind)
    # An operation without a subject (a document that was never generated) is kept under its provider's partition.
    write(fields, list(targets.items()) or [(f"{provider}|none", "none")], version)


def utc_text(moment: dt.datetime) -> str:
    """A UTC time as the records hold it, ISO 8601 with microseconds and a four-digit year, so the text sorts as the
    time does (`strftime("%Y")` writes year 999 as `999`, after `2026`)."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def write(
    fields: dict[str, Any], targets: list[tuple[str, str]], version: str | None, *, failure: str | None = None
) -> None:
    """The record under each (partition, subject kind) of `targets`, written once; or, when it cannot be, logged
    in the request's line with the failure, and counted."""
    now = clock.now()
    time = utc_text(dt.datetime.fromtimestamp(now, dt.UTC))
    expires_at = int(now) + get_settings().audit_retention_days * 86400
    common = {k: v for k, v in fields.items() if v is not None and v != []}
    common |= {
        "time": time,
        "keyVersion": version,
        "expiresAt": expires_at,
        "functionVersion": observability.FUNCTION_VERSION,  # which code answered: a bug found later, its records
    }
    at = f"{time}#{fields['correlationId']}"
    items = [common | {"fingerprint": target, "at": at, "subjectKind": kind} for target, kind in targets]
    if failure is None:
        failure = _put(items)
    if failure is not None:
        subjects = [{"fingerprint": target, "kind": kind} for target, kind in targets]
        note(NOT_WRITTEN, {**common, "at": at, "subjects": subjects, "failure": failure})
        count("AuditWriteFailures")


def _put(items: list[dict[str, Any]]) -> str | None:
    """Put the items (one conditional put, or one transaction of them), retried while the request has time for
    another attempt; None once written, else what failed."""
    table = get_settings().audit_table_name
    if not table:
        return "AUDIT_TABLE_NAME is not configured"
    typed = [_typed_item(item) for item in items]
    delay, attempt = 0.05, 0
    while True:
        attempt += 1
        try:
            client = aws.quick_client("dynamodb")
            if len(typed) == 1:
                client.put_item(TableName=table, Item=typed[0], ConditionExpression=_CONDITION)
            else:
                put = {"TableName": table, "ConditionExpression": _CONDITION}
                client.transact_write_items(TransactItems=[{"Put": put | {"Item": item}} for item in typed])
            return None
        except Exception as error:  # noqa: BLE001 - any failure is retried, then logged and counted
            if _already_written(error):
                return None  # an earlier attempt whose answer was lost wrote it
            failure = _error_code(error)
        left = clock.time_left()
        if attempt >= _MAX_ATTEMPTS or (left is not None and left < delay + _ATTEMPT_SECONDS):
            return failure
        clock.sleep(delay * random.uniform(0.5, 1.5))
        delay *= 2


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(error).__name__)


def _already_written(error: Exception) -> bool:
    """The condition failed: the record's key exists, and only this request writes under its correlation id. A
    transaction is all or nothing: an earlier attempt that went through left every item, so every condition fails
    (one item refused and others not means nothing was written)."""
    code = _error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    reasons = (getattr(error, "response", None) or {}).get("CancellationReasons") or []
    return (
        code == "TransactionCanceledException"
        and bool(reasons)
        and all(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)
    )


def _typed_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _typed_value(value) for name, value in item.items() if value is not None}


def _typed_value(value: Any) -> dict[str, Any]:
    """DynamoDB's typed form of a JSON value (the records hold strings, numbers, booleans, lists and maps)."""
    if type(value) is str:  # most of a record's values: asked first (a warm request types about twenty)
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": json.dumps(value)}
    if isinstance(value, list):
        return {"L": [_typed_value(item) for item in value]}
    if isinstance(value, dict):
        return {"M": {name: _typed_value(item) for name, item in value.items() if item is not None}}
    return {"S": str(value)}


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A record read back from the table, as JSON."""
    return {name: _plain_value(value) for name, value in item.items()}


def _plain_value(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "N":
        return json.loads(inner)
    if kind == "L":
        return [_plain_value(item) for item in inner]
    if kind == "M":
        return {name: _plain_value(item) for name, item in inner.items()}
    return inner
