"""Cladfy (Kenya): KRA PIN details, `POST {CLADFY_BASE_URL}/krapin` with HTTP Basic auth.

Cladfy mostly answers errors with HTTP 200 and a body carrying `success: false`, a `status` and a 1xxx `code`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

from kyc_gateway.errors import (
    CredentialsRejected,
    GatewayError,
    ProviderAuthFailed,
    ProviderBadResponse,
    ProviderRejected,
    SubjectNotFound,
)
from kyc_gateway.model import Model, ascii_upper
from kyc_gateway.provider_response import ProviderResponse, int_or_none
from kyc_gateway.providers.base import ProviderClient, json_body, undocumented


def _trimmed_upper(value: Any) -> Any:
    return ascii_upper(value.strip()) if isinstance(value, str) else value


# Structure only: "A" (individual) or "P" (non-individual), 9 digits, a check letter whose algorithm is unpublished.
# Trimmed and upper-cased first, which the published schema says.
KraPin = Annotated[
    str,
    BeforeValidator(_trimmed_upper),
    StringConstraints(pattern=r"^[AP][0-9]{9}[A-Z]$"),
    WithJsonSchema({"type": "string", "pattern": r"^\s*[APap][0-9]{9}[A-Za-z]\s*$"}),
]


class KraPinRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    pinnumber: KraPin

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the KRA PIN."""
        yield "kra_pin", self.pinnumber


class CladfySecret(Model):
    clientId: str
    secretKey: str


# Cladfy's success body: its response table marks every field required, each of its type (answers/cladfy.py
# publishes the same). An answer without one of them, or of another type, is not the documented success.
SUCCESS_FIELDS: dict[str, type] = {
    "success": bool,
    "response_code": int,
    "message": str,
    "data": dict,
    "request_id": str,
}
DETAIL_FIELDS = (
    "Business_Certificate_Id", "Email_Addresses", "Locality", "PINNo", "Partnership", "Paye", "Station",
    "TaxpayerName", "Tot", "Trading_Business_Name", "Vat",
)  # fmt: skip

# Cladfy's documented body codes.
_AUTH_FAILED_CODES = {1200, 1204}
_RATE_LIMITED_CODE = 1005
_VALIDATION_FAILED_CODE = 1003
_NOT_FOUND = re.compile(r"\bnot\s+(be\s+)?found|\bdoes\s+not\s+exist|\bno\s+(records?|data|details?)\b", re.IGNORECASE)
# A message about Cladfy or KRA failing to answer, not about the PIN: an outage says nothing of whether the PIN exists,
# and "not found" is a KYC verdict a caller may refuse a customer on ("No data received from KRA, try again later";
# not "try again" alone: "PIN not found, check it and try again" is the verdict).
_OUTAGE = re.compile(
    r"\blater\b|unavailable|temporar|\btime[ds]?\s*out\b|\bupstream\b|maintenance|\bbusy\b|(system|server|internal)\s+error"
    r"|no\s+(response|data\s+received)|not\s+responding|(unable|failed|could\s+not)\s+(to\s+)?(fetch|retriev|reach|connect)",
    re.IGNORECASE,
)
# A message about the request's address, not the PIN: a route miss (its code, 1101, may be missing), never the PIN's 404
_ADDRESS_MISSED = re.compile(r"\b(endpoint|route|path|url|method)s?\b", re.IGNORECASE)


class CladfyClient(ProviderClient):
    name = "cladfy"
    secret_model = CladfySecret

    def kra_pin_details(self, request: KraPinRequest) -> ProviderResponse:
        return self.credentials.use(lambda secret: self._kra_pin_details(secret, request))

    def _kra_pin_details(self, secret: CladfySecret, request: KraPinRequest) -> ProviderResponse:
        basic = base64.b64encode(f"{secret.clientId}:{secret.secretKey}".encode()).decode()
        response = self.http.post(
            "/krapin",
            operation="krapin",
            idempotent=True,  # a lookup: safe to retry, rate limits included
            json_body=request.model_dump(),
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            throttled=_rate_limited,
        )
        # a 401 is Cladfy's page for an invalid API key, whatever its body: the secret is read again (_error_for)
        body = (response.body or {}) if response.status == 401 else json_body(response)
        if response.status == 200 and body.get("success") is True:
            if problems := _unlike_the_documented_success(body):
                raise response.error(ProviderBadResponse, details=problems)
            return response
        raise _error_for(response, body)


def _unlike_the_documented_success(body: dict[str, Any]) -> list[dict[str, str]]:
    """Where a success body differs from Cladfy's response table: each field it requires missing or of another
    type (a number is never a boolean, nor a boolean a number). More fields are Cladfy's to add."""
    problems = []
    data = body.get("data")
    fields = [(name, name, body, kind) for name, kind in SUCCESS_FIELDS.items()]
    if isinstance(data, dict):
        fields += [(f"data.{name}", name, data, str) for name in DETAIL_FIELDS]
    for path, name, holder, kind in fields:
        value = holder.get(name)
        if name not in holder:
            problems.append({"field": path, "issue": "is missing"})
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append({"field": path, "issue": f"is not {_TYPE_NAMES[kind]}"})
    return problems


_TYPE_NAMES = {bool: "a boolean", int: "an integer", str: "a string", dict: "an object"}


def _rate_limited(response: ProviderResponse) -> bool:
    """Cladfy reports its rate limit as body code 1005, mostly with HTTP 200; or, in its error shape, as the body's
    status 429 (the status it puts in the body is its real one)."""
    body = response.body
    if body is None:
        return False
    return int_or_none(body.get("code")) == _RATE_LIMITED_CODE or (
        _is_cladfy_body(body) and int_or_none(body.get("status")) == 429
    )


def _is_cladfy_body(body: dict[str, Any]) -> bool:
    """One of Cladfy's own shapes: a result (`success`, `response_code`) or an error (`status`, `message`, `code`,
    `response`). A framework's page (Spring's `{"status": 404, "error": ..., "path": ...}`, `{"detail": ...}`)
    is not Cladfy speaking about the PIN."""
    return "success" in body or {"status", "code", "response"} <= body.keys()


def _error_for(response: ProviderResponse, body: dict[str, Any]) -> GatewayError | CredentialsRejected:
    code = int_or_none(body.get("code"))
    # Cladfy puts the real status in the body ("status" on errors, "response_code" on results).
    status = int_or_none(body.get("status")) or int_or_none(body.get("response_code")) or response.status
    if code in _AUTH_FAILED_CODES or 401 in (status, response.status):
        return CredentialsRejected(response.error(ProviderAuthFailed, provider_code=code))
    if response.status >= 500:  # the document's 500 is Cladfy's own failure (its body's 429 is already throttled)
        return undocumented(response, code)
    if code == _VALIDATION_FAILED_CODE:
        return response.error(ProviderRejected, provider_code=code)
    if code is None and _is_cladfy_body(body) and _says_the_pin_is_unknown(body, status):
        return response.error(SubjectNotFound, code="kra_pin_not_found")
    # 1002 bad JSON, 1101 unknown endpoint, 1103 missing parameter, undocumented codes and shapes, a bare 404:
    # the gateway's own request did not fit the provider, or the provider failed; never the caller's fault.
    return undocumented(response, code, status=status)


def _says_the_pin_is_unknown(body: dict[str, Any], status: int) -> bool:
    """Cladfy's own shape saying the PIN is unknown: its status 404, or a failed result with no other status
    (HTTP 200) whose message says not found; never a message about the address (a route miss) or about an outage
    (whatever its status), and never a body whose status says something else (a 503 "no data available" is KRA's
    service failing)."""
    message = str(body.get("message") or "")
    if _ADDRESS_MISSED.search(message) or _OUTAGE.search(message):
        return False
    return status == 404 or (status == 200 and body.get("success") is False and bool(_NOT_FOUND.search(message)))


def kra_pin_details(request: KraPinRequest) -> ProviderResponse:
    return CladfyClient.instance().kra_pin_details(request)
