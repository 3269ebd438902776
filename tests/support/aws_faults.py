"""An AWS service failing under the gateway: one operation of the instance's own botocore clients answers an error,
or is applied by the emulator and then loses its answer, while botocore's own retries and parsing run as deployed.
A new instance (local.functions.cold_start) has new clients, without the fault."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

# What `decide(params)` answers for one request (None: the emulator answers it)
Fault = tuple[str, ...] | None


def refused(code: str, status: int = 400) -> tuple[str, str, int]:
    """The service refuses the request (nothing applied) with the error `code`."""
    return ("refused", code, status)


LOST = ("lost",)
"""The emulator applies the request, then its answer is lost (a read timeout): botocore sends it again."""


class AnswerBody:
    """The body of an answer given in place of the service's (botocore reads it as a stream, or whole)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def inject(service: str, operation: str, decide: Callable[[dict[str, Any]], Fault]) -> list[Fault]:
    """Each request of `operation` on the instance's `service` clients goes through `decide`; the faults it made,
    in order (None for a request passed through)."""
    from moto.core.models import botocore_stubber

    from kyc_gateway import aws

    made: list[Fault] = []

    def handler(request: Any, **kwargs: Any) -> Any:
        fault = decide(json.loads(request.body or b"{}"))
        made.append(fault)
        if fault is None:
            return None
        if fault[0] == "lost":
            botocore_stubber(event_name=kwargs.get("event_name", ""), request=request)  # applied by the emulator
            raise ReadTimeoutError(endpoint_url=request.url)
        _, code, status = fault
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": "injected"}).encode()
        headers = {"x-amzn-query-error": f"{code};Sender", "Content-Type": "application/x-amz-json-1.1"}
        request.url = "https://fault.invalid/"  # the emulator's own before-send hook (after this one) leaves it
        return AWSResponse(request.url, status, headers, AnswerBody(body))

    for client in (aws.client, aws.quick_client):
        client(service).meta.events.register_first(f"before-send.{service}.{operation}", handler)
    return made


def on_table(table: str, fault: Fault, *, times: int | None = None, text: str = "") -> Callable[[dict], Fault]:
    """`fault` for requests on `table` (whose parameters hold `text`), the first `times` of them (None: all)."""
    seen = [0]

    def decide(params: dict[str, Any]) -> Fault:
        if params.get("TableName") != table or text not in json.dumps(params):
            return None
        seen[0] += 1
        return fault if times is None or seen[0] <= times else None

    return decide
