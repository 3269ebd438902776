"""Reading the audit trail as a test sees it: the table's records, the local stack's fingerprint key, searches."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from local.api_events import proxy_event
from local.functions import invoke
from project import template as cfn
from tests.conftest import SECRETS

COMPLIANCE_ROLE = "arn:aws:sts::123456789012:assumed-role/kyc-compliance/analyst"


def local_fingerprint(canonical: str, version: str = "v1", keys: dict[str, str] | None = None) -> str:
    """HMAC-SHA256 of `canonical` under the local secret's key `version`, computed here, not by the gateway."""
    key = (keys or SECRETS["auditkey"])[version]
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def records(aws: Any, physical_ids: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of the audit table, as JSON."""
    from kyc_gateway.audit import plain_item

    table = physical_ids["AuditTable"]
    items = aws.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return [plain_item(item) for item in items]


def records_of(aws: Any, physical_ids: dict[str, str], correlation_id: str) -> list[dict[str, Any]]:
    return [item for item in records(aws, physical_ids) if item["correlationId"] == correlation_id]


def search(body: Any, *, caller: str = COMPLIANCE_ROLE, correlation_id: str | None = None) -> tuple[int, Any]:
    """POST /audit/search, as API Gateway hands it to the function (signed by `caller`): status and JSON body."""
    headers = [("Content-Type", "application/json")]
    if correlation_id:
        headers.append(("X-Correlation-Id", correlation_id))
    event = proxy_event("POST", "/audit/search", headers=headers, body=json.dumps(body))
    event["requestContext"]["identity"]["userArn"] = caller
    answer = invoke(cfn.functions()["AuditSearchFunction"], event)
    return answer["statusCode"], json.loads(answer["body"])


def call_as(function: str, body: Any, *, caller: str, correlation_id: str, headers: tuple = ()) -> dict[str, Any]:
    """A provider route called by `caller` (the IAM principal API Gateway authenticated) under `correlation_id`."""
    spec = cfn.functions()[function]
    method, path = spec.api_events[0]
    event = proxy_event(
        method,
        path,
        headers=[("Content-Type", "application/json"), ("X-Correlation-Id", correlation_id), *headers],
        body=json.dumps(body),
    )
    event["requestContext"]["identity"]["userArn"] = caller
    event["requestContext"]["requestId"] = f"api-{correlation_id}"  # API Gateway's own id, apart from the caller's
    return invoke(spec, event)
