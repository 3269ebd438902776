"""API Gateway REST proxy events (payload 1.0), as API Gateway builds them for a Lambda proxy integration."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from typing import Any


def proxy_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    query: Iterable[tuple[str, str]] = (),
    body: bytes | str | None = None,
    path_parameters: dict[str, str] | None = None,
    stage: str = "local",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The event for one request. Repeated headers and query keys appear in both the single-value maps (last
    value wins, as in API Gateway) and the multi-value maps. Bodies that are not UTF-8 text are base64-encoded."""
    headers, query = list(headers), list(query)
    is_base64 = False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": {name: value for name, value in headers} or None,
        "multiValueHeaders": _multi(headers) or None,
        "queryStringParameters": {name: value for name, value in query} or None,
        "multiValueQueryStringParameters": _multi(query) or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "httpMethod": method.upper(),
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent")},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource or path,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped
