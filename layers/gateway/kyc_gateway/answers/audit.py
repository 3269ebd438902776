"""The audit search's success body: the gateway's own answer (docs/audit.md), not a provider's."""

from __future__ import annotations

from kyc_gateway.answers import answer, by_example, documented, ref

_RECORD_FIELDS = {
    "fingerprint": documented("string", "the subject's keyed fingerprint (HMAC-SHA256), never the subject itself"),
    "at": documented("string", "the record's sort key: its time, '#', its correlation id"),
    "time": documented("string", "when the operation ended, UTC ISO 8601"),
    "subjectKind": documented("string", "which kind of subject the fingerprint is of"),
    "keyVersion": documented("string", "the version of the key that made the fingerprint"),
    "caller": documented("string", "the IAM principal API Gateway authenticated, or webhook, or schedule"),
    "route": documented("string", "the gateway's route name"),
    "provider": documented("string"),
    "operation": documented("string"),
    "status": documented("integer", "the gateway's HTTP status"),
    "code": documented("string", "the gateway's envelope code, or ok"),
    "providerStatus": by_example(
        {"type": ["integer", "string"]}, "the provider's HTTP status, or timeout or unreachable"
    ),
    "providerCode": by_example({"type": ["integer", "string"]}, "the provider's own error code"),
    "providerRequestId": by_example("string"),
    "providerCalls": by_example("array", "each HTTP call of the operation: its operation and status"),
    "correlationId": documented("string"),
    "apiRequestId": by_example("string", "API Gateway's request id (its access log's), on a route"),
    "functionVersion": by_example("string", "the published version of the function that wrote it ($LATEST locally)"),
    "idempotencyKey": by_example("string"),
    "purpose": by_example("string", "the caller's X-Request-Purpose: why the provider was asked"),
    "replay": by_example("boolean", "true when the answer replayed an earlier one"),
    "expiresAt": by_example("integer", "when the table's TTL removes the record (epoch seconds)"),
    "recordsFound": by_example("integer", "a search's own record: how many records it answered"),
}

SCHEMAS = {
    "AuditRecord": answer(
        "One audit record: no personal datum, the subject only as its fingerprint.",
        _RECORD_FIELDS,
        required=("fingerprint", "at", "time", "caller", "route", "provider", "operation", "status", "code"),
    ),
    "AuditSearchAnswer": answer(
        "One page of a subject's audit records, newest first.",
        {
            "records": {"type": "array", "items": ref("AuditRecord")},
            "nextToken": {"type": ["string", "null"], "description": "the next page's token; null on the last"},
        },
        required=("records", "nextToken"),
    ),
}
ANSWERS = {"audit.search": "AuditSearchAnswer"}
