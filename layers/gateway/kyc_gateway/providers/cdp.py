"""CDP Partner Onboarding (UAE, Digit9 DRAP): Keycloak token, Customer Lookup v2, Individual Onboarding.

Token: `POST {CDP_BASE_URL}/auth/realms/cdp/protocol/openid-connect/token`, form-encoded, one `grant_type`:
`password` (scope, client_id, client_secret, username, password) or `refresh_token` (refresh_token, client_id,
client_secret). Refresh tokens may be single-use: the new one always replaces the old one.
Lookup failures come back as HTTP 200 with `"status": "failure"` and the code in `errorCode`; onboarding
failures use HTTP 4xx/5xx with `error_code`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from kyc_gateway import clock
from kyc_gateway.errors import (
    GatewayError,
    ProviderBadResponse,
    ProviderFailed,
    ProviderRejected,
    SubjectNotFound,
)
from kyc_gateway.fields import ForwardedAsSent
from kyc_gateway.model import Model
from kyc_gateway.provider_response import ProviderResponse, int_or_none
from kyc_gateway.providers.base import HeaderToken, ProviderClient, Send, json_body, undocumented
from kyc_gateway.token_cache import Token

TOKEN_PATH = "/auth/realms/cdp/protocol/openid-connect/token"  # noqa: S105 - a URL path, not a secret
LOOKUP_PATH = "/caas/api/v2/customer/validate"
ONBOARDING_PATH = "/caas-lcm/api/v1/CAAS/onBoarding/customer"

__all__ = ["CustomerLookupRequest", "OnboardingRequest", "customer_lookup", "onboard_individual"]


# How a caller finds out whether an onboarding that timed out was done (it is never sent twice under one key).
ONBOARDING_OUTCOME_CHECK = (
    "CDP may have onboarded the customer: look the customer up (POST /cdp/customers/lookup with the id number and "
    "type), then onboard under a new Idempotency-Key only if CDP does not know the customer"
)


class CustomerLookupRequest(Model):
    """Customer Lookup v2's request table, and nothing more: both fields mandatory strings, `idNumber` at most 30
    characters, `idType` at most 3. No pattern is published (`"4"`, the Emirates ID, is one code of CDP's master
    data), so any characters, and an empty string, are CDP's to rule on (its 40001). A field beyond the table is
    not sent: CDP runs on Spring Boot, whose JSON reader ignores unknown fields, so it is not refused either."""

    model_config = ConfigDict(extra="ignore", strict=True)

    idNumber: Annotated[str, StringConstraints(max_length=30)]
    idType: Annotated[str, StringConstraints(max_length=3)]

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the ID, by type and number, and the ECRN of
        the customer CDP found (so that a search by ECRN finds lookups as well as the onboarding)."""
        yield "id", f"{self.idType}:{self.idNumber}"
        yield from _answered_ecrn(answer)


def _onboarding_example(schema: dict[str, Any]) -> None:
    # Read only when a schema is generated (the OpenAPI document), never on a request's path.
    schema["examples"] = [json.loads(Path(__file__).with_name("cdp_onboarding_example.json").read_text())]


class OnboardingRequest(ForwardedAsSent):
    """Any JSON object, forwarded to CDP exactly as sent. CDP's document gives the onboarding an example body
    (this schema's example), not a field table: its types, mandatory fields and lengths are not published, and it
    asks for data the example has no field for (e-KYC reports, a facial image). CDP names what it refuses itself
    (40002, with the fields in `details`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_onboarding_example)

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): each ID of `id_details` (a list in CDP's
        example; one object, as a caller may send one ID, is read too: the body went to CDP all the same), and the
        ECRN CDP answered (the customer's number, which a later lookup answers too)."""
        details = self.sent.get("id_details")
        for detail in [details] if isinstance(details, dict) else details if isinstance(details, list) else ():
            if isinstance(detail, dict) and _scalar(detail.get("id_type")) and _scalar(detail.get("id_number")):
                yield "id", f"{detail['id_type']}:{detail['id_number']}"
        yield from _answered_ecrn(answer)


def _answered_ecrn(answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    """The ECRN (CDP's customer number) in a CDP answer's `data`, as an audit subject."""
    data = (answer or {}).get("data")
    if isinstance(data, dict) and _scalar(data.get("ecrn")):
        yield "ecrn", str(data["ecrn"])


def _scalar(value: Any) -> bool:
    """A value an identifier can be: a non-empty string or a number (CDP's id types are numbers)."""
    return (isinstance(value, str) and bool(value.strip())) or (isinstance(value, int) and not isinstance(value, bool))


class CdpSecret(Model):
    clientId: str
    clientSecret: str
    username: str
    password: str
    scope: str


class TokenReply(Model):
    access_token: HeaderToken
    expires_in: float = Field(gt=0)
    refresh_token: str | None = None
    refresh_expires_in: float | None = None


# errorCode / error_code -> (gateway error, gateway code), under whatever HTTP status carries it (the document gives
# some codes only as a body), per operation: each operation's document lists its own codes (40001 even means two
# things). Any other code is undocumented there: 502.
Errors = dict[int, tuple[type[GatewayError], str]]
_SCREENING: Errors = {  # both operations: the customer's compliance state
    45013: (ProviderRejected, "customer_under_investigation"),
    45051: (ProviderRejected, "customer_blocked"),
}
_LOOKUP_ERRORS: Errors = _SCREENING | {
    45001: (SubjectNotFound, "customer_not_found"),
    # The customer exists but has not subscribed to this partner: a business state, not a missing subject.
    45003: (ProviderRejected, "customer_not_subscribed"),
    # CDP refused the id number / id type the caller sent (our own validation passed): the caller's data.
    40001: (ProviderRejected, "invalid_customer_id"),
    45006: (ProviderFailed, "provider_error"),  # "Error while searching customer!"
}
_ONBOARDING_ERRORS: Errors = _SCREENING | {
    45053: (ProviderRejected, "invalid_master_data"),
    40002: (ProviderRejected, "missing_mandatory_fields"),
    # A failed update of an existing customer record: CDP refused this onboarding.
    45032: (ProviderRejected, "customer_update_failed"),
    # CDP's "Backend Technical Problem" (HTTP 502): its backend failing mid-onboarding, whatever status carries it
    # (the customer may have been onboarded: `_BACKEND_FAILURE`)
    40001: (ProviderFailed, "provider_error"),
}
_BACKEND_FAILURE = 40001  # on the onboarding: CDP failing, before or after it wrote the customer


class CdpClient(ProviderClient):
    name = "cdp"
    secret_model = CdpSecret
    uses_tokens = True
    token_requests_per_renewal = 2  # a refresh, and a password grant when CDP refuses the refresh token
    _spent_refresh: str | None = None  # the last refresh token CDP refused as invalid_grant

    def customer_lookup(self, request: CustomerLookupRequest) -> ProviderResponse:
        send = self._sender(LOOKUP_PATH, "lookup", request.model_dump(), idempotent=True)  # a read: retried when safe
        return _lookup_result(self.with_token(send))

    def onboard_individual(self, request: OnboardingRequest) -> ProviderResponse:
        # A write: never retried blindly (only a 401, which CDP answers before doing anything, is retried).
        send = self._sender(ONBOARDING_PATH, "onboarding", request.forwarded, idempotent=False)
        return _onboarding_result(self.with_token(send))

    def _sender(self, path: str, operation: str, body: Any, *, idempotent: bool) -> Send:
        bearer = lambda access_token: {"Authorization": f"Bearer {access_token}"}  # noqa: E731 - a header shape
        return self.sender(path, operation, body, idempotent=idempotent, header=bearer)

    def log_in(self, secret: CdpSecret, previous: Token | None) -> Token:
        """Refresh while the refresh token lives; else, or when CDP refuses it (invalid_grant), a password grant."""
        refresh_token = previous.usable_refresh(clock.now()) if previous else None
        if refresh_token and refresh_token != self._spent_refresh:
            response = self._token_request(secret, {"grant_type": "refresh_token", "refresh_token": refresh_token})
            if not (response.status == 400 and (response.body or {}).get("error") == "invalid_grant"):
                return self._issued(response)
            # expired, revoked or already used: a password grant, and never this refresh token again (a password
            # grant refused makes the gateway read its secret again and log in once more from the same token)
            self._spent_refresh = refresh_token
        form = {"grant_type": "password", "scope": secret.scope, "username": secret.username}
        return self._issued(self._token_request(secret, form | {"password": secret.password}))

    def _token_request(self, secret: CdpSecret, form: dict[str, str]) -> ProviderResponse:
        client = {"client_id": secret.clientId, "client_secret": secret.clientSecret}
        return self.http.post(
            TOKEN_PATH, operation="token", idempotent=True, form=form | client, headers={"Accept": "application/json"}
        )

    def _issued(self, response: ProviderResponse) -> Token:
        # Keycloak's 400s (invalid_client, invalid_grant for the user, invalid_scope) are our credentials too.
        reply = self.token_answer(response, TokenReply, refused=(400, 401, 403), code=lambda body: body.get("error"))
        now = clock.now()
        return Token.issued(
            reply.access_token,
            now=now,
            expires_at=now + reply.expires_in,
            refresh_value=reply.refresh_token,
            refresh_expires_at=now + reply.refresh_expires_in if reply.refresh_expires_in else None,
        )


def _lookup_result(response: ProviderResponse) -> ProviderResponse:
    body = json_body(response)
    if response.status == 200 and body.get("status") == "success":
        if isinstance(body.get("data"), dict):
            return response
        raise response.error(ProviderBadResponse)  # a success without the customer it found
    # the lookup's failures come as HTTP 200 (but a 401): one of its codes under a 5xx is CDP failing, never the
    # caller's id refused nor a missing customer; and so is 40001 with a 5xx in the body, CDP's "Backend Technical
    # Problem" (the onboarding's 502), not the lookup's "Invalid format input" (400 in its body)
    if _code(body) == _BACKEND_FAILURE and _body_status(body) >= 500:
        raise undocumented(response, _BACKEND_FAILURE)
    raise _error_for(response, _LOOKUP_ERRORS)


def _onboarding_result(response: ProviderResponse) -> ProviderResponse:
    body = json_body(response)
    if response.status == 200 and body.get("status") == "success":
        ecrn = data.get("ecrn") if isinstance(data := body.get("data"), dict) else None
        # a string, as the lookup's response table types the ECRN; or a number: the onboarding's answer is shown
        # only by example, and CDP's id types are numbers elsewhere
        if _scalar(ecrn):
            return response
        # CDP says it onboarded someone, without the ECRN that names them: a 2xx write whose answer cannot be used
        raise response.unusable(ProviderBadResponse)
    # the onboarding's refusals come under 4xx statuses (45032's under none the document gives); a 5xx (its documented
    # 502 "Backend Technical Problem" included) or its backend failure under any status may come after the customer
    # was written: the outcome is unknown, never sent again under the same Idempotency-Key
    raise _error_for(response, _ONBOARDING_ERRORS, after_acting=_BACKEND_FAILURE)


def _error_for(response: ProviderResponse, table: Errors, *, after_acting: int | None = None) -> GatewayError:
    """A documented CDP code decides, whatever HTTP status carries it (lookup failures come as HTTP 200, and the
    document gives some codes only as a body, 45032 among them): CDP saying what it refused, in its own words; but
    under an HTTP 5xx, CDP failing whatever the code says (none is documented under one but the onboarding's 502,
    its backend failing). Without one, only the HTTP status is left: 429 and 401/403 mean what they mean everywhere;
    anything else, a Spring `Not Found` page included, is CDP failing (502). The code `after_acting` is CDP failing
    after it may have acted: a write's outcome is unknown."""
    body = response.body or {}
    code = _code(body)
    if code in table and response.status < 500:
        kind, gateway_code = table[code]
        details = body.get("details")
        return response.error(
            kind,
            code=gateway_code,
            provider_code=code,
            # CDP's own per-field reasons ({"firstName": "Invalid first name"}): field names and fixed texts only.
            details=[{"field": str(field), "issue": str(issue)} for field, issue in details.items()]
            if isinstance(details, dict)
            else None,
            after_acting=code == after_acting,
        )
    return undocumented(response, code)


def _code(body: dict[str, Any]) -> int | None:
    """CDP's code: the lookup names it errorCode, the onboarding error_code; either is read wherever it comes."""
    return int_or_none(body.get("errorCode", body.get("error_code")))


def _body_status(body: dict[str, Any]) -> int:
    """The HTTP status CDP writes in its answer's body (`statusCode`, `status_code`), or 0."""
    return int_or_none(body.get("statusCode", body.get("status_code"))) or 0


def customer_lookup(request: CustomerLookupRequest) -> ProviderResponse:
    return CdpClient.instance().customer_lookup(request)


def onboard_individual(request: OnboardingRequest) -> ProviderResponse:
    return CdpClient.instance().onboard_individual(request)
