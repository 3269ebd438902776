"""CDP Partner Onboarding (UAE, Digit9 DRAP): Keycloak token, Customer Lookup v2, Individual Onboarding.

Token: `POST {CDP_BASE_URL}/auth/realms/cdp/protocol/openid-connect/token`, form-encoded, one `grant_type`:
`password` (scope, client_id, client_secret, username, password) or `refresh_token` (refresh_token, client_id,
client_secret). Refresh tokens may be single-use: the new one always replaces the old one.
Lookup failures come back as HTTP 200 with `"status": "failure"` and the code in `errorCode`; onboarding
failures use HTTP 4xx/5xx with `error_code`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from kyc_gateway.auth import call_with_token
from kyc_gateway.errors import (
    CredentialsRejected,
    GatewayError,
    ProviderAuthFailed,
    ProviderBadResponse,
    ProviderFailed,
    ProviderRateLimited,
    ProviderRejected,
    SubjectNotFound,
)
from kyc_gateway.http import ProviderHttp, ProviderResponse, int_or_none
from kyc_gateway.lazy import once
from kyc_gateway.providers.cdp_models import OnboardingRequest
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, TokenCache, cache_key

PROVIDER = "cdp"
TOKEN_PATH = "/auth/realms/cdp/protocol/openid-connect/token"  # noqa: S105 - a URL path, not a secret
LOOKUP_PATH = "/caas/api/v2/customer/validate"
ONBOARDING_PATH = "/caas-lcm/api/v1/CAAS/onBoarding/customer"

__all__ = ["CustomerLookupRequest", "OnboardingRequest", "customer_lookup", "onboard_individual"]


# How a caller finds out whether an onboarding that timed out was done (it is never sent twice under one key).
ONBOARDING_OUTCOME_CHECK = (
    "CDP may have onboarded the customer: look the customer up (POST /cdp/customers/lookup with the id number and "
    "type), then onboard under a new Idempotency-Key only if CDP does not know the customer"
)


class CustomerLookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    idNumber: Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9-]+$")]
    idType: Annotated[str, StringConstraints(min_length=1, max_length=3, pattern=r"^[0-9]+$")]


class CdpSecret(BaseModel):
    clientId: str
    clientSecret: str
    username: str
    password: str
    scope: str


class TokenReply(BaseModel):
    access_token: str = Field(min_length=1)
    expires_in: float = Field(gt=0)
    refresh_token: str | None = None
    refresh_expires_in: float | None = None


# errorCode / error_code -> (gateway error, gateway code), whatever the HTTP status. Anything else is undocumented: 502.
_BUSINESS_ERRORS: dict[int, tuple[type[GatewayError], str]] = {
    45001: (SubjectNotFound, "customer_not_found"),
    # The customer exists but has not subscribed to this partner: a business state, not a missing subject.
    45003: (ProviderRejected, "customer_not_subscribed"),
    # CDP refused the id number / id type the caller sent (our own validation passed): the caller's data.
    40001: (ProviderRejected, "invalid_customer_id"),
    45006: (ProviderFailed, "provider_error"),
    45013: (ProviderRejected, "customer_under_investigation"),
    45051: (ProviderRejected, "customer_blocked"),
    45053: (ProviderRejected, "invalid_master_data"),
    40002: (ProviderRejected, "missing_mandatory_fields"),
    # A failed update of an existing customer record: CDP refused this onboarding.
    45032: (ProviderRejected, "customer_update_failed"),
}
# On onboarding, 40001 is CDP's "Backend Technical Problem" (HTTP 502), not a format error.
_ONBOARDING_OVERRIDES: dict[int, tuple[type[GatewayError], str]] = {40001: (ProviderFailed, "provider_error")}


class CdpClient:
    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.require("cdp_base_url")
        self.http = ProviderHttp(PROVIDER, base_url, settings)
        self.credentials = ProviderCredentials(settings.require("cdp_secret_id"), CdpSecret)
        self.tokens = TokenCache(cache_key(PROVIDER, base_url), settings.require("token_table_name"))

    def customer_lookup(self, request: CustomerLookupRequest) -> ProviderResponse:
        send = self._sender(LOOKUP_PATH, request.model_dump(), idempotent=True)  # a read: retried when safe
        return _lookup_result(call_with_token(self.tokens, self._new_token, send))

    def onboard_individual(self, request: OnboardingRequest) -> ProviderResponse:
        # A write: never retried blindly (only a 401, which CDP answers before doing anything, is retried).
        send = self._sender(ONBOARDING_PATH, request.sent, idempotent=False)
        return _onboarding_result(call_with_token(self.tokens, self._new_token, send))

    def _sender(self, path: str, body: dict[str, Any], *, idempotent: bool) -> Any:
        operation = "lookup" if path == LOOKUP_PATH else "onboarding"

        def send(access_token: str) -> ProviderResponse:
            return self.http.post(
                path,
                operation=operation,
                idempotent=idempotent,
                json_body=body,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )

        return send

    def _new_token(self, previous: Token | None) -> Token:
        """Refresh while the refresh token lives; else, or when CDP refuses it (invalid_grant), a password grant."""
        refresh_token = previous.usable_refresh(time.time()) if previous else None
        if refresh_token:
            token = self.credentials.use(lambda secret: self._refresh_grant(secret, refresh_token))
            if token is not None:
                return token
        return self.credentials.use(self._password_grant)

    def _password_grant(self, secret: CdpSecret) -> Token:
        form = {"grant_type": "password", "scope": secret.scope, "username": secret.username}
        response = self._token_request(secret, form | {"password": secret.password})
        return self._issued(response)

    def _refresh_grant(self, secret: CdpSecret, refresh_token: str) -> Token | None:
        response = self._token_request(secret, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        if response.status == 400 and (response.body or {}).get("error") == "invalid_grant":
            return None  # expired, revoked or already used: the caller falls back to a password grant
        return self._issued(response)

    def _token_request(self, secret: CdpSecret, form: dict[str, str]) -> ProviderResponse:
        client = {"client_id": secret.clientId, "client_secret": secret.clientSecret}
        return self.http.post(
            TOKEN_PATH, operation="token", idempotent=True, form=form | client, headers={"Accept": "application/json"}
        )

    @staticmethod
    def _issued(response: ProviderResponse) -> Token:
        body = response.body
        if response.status == 200:
            try:
                reply = TokenReply.model_validate(body or {})
            except ValidationError:
                raise response.error(ProviderBadResponse) from None
            now = time.time()
            return Token.issued(
                reply.access_token,
                now=now,
                expires_at=now + reply.expires_in,
                refresh_value=reply.refresh_token,
                refresh_expires_at=now + reply.refresh_expires_in if reply.refresh_expires_in else None,
            )
        if body is None:
            raise response.error(ProviderBadResponse)
        if response.status in (400, 401, 403):
            # invalid_client, unauthorized_client, invalid_grant (user), invalid_scope: our own credentials
            raise CredentialsRejected(response.error(ProviderAuthFailed, provider_code=body.get("error")))
        raise response.error(ProviderRateLimited if response.status == 429 else ProviderFailed)


def _lookup_result(response: ProviderResponse) -> ProviderResponse:
    body = response.body
    if body is None:
        raise response.error(ProviderBadResponse)
    if response.status == 200 and body.get("status") == "success" and isinstance(body.get("data"), dict):
        return response
    raise _error_for(response, _BUSINESS_ERRORS)


def _onboarding_result(response: ProviderResponse) -> ProviderResponse:
    body = response.body
    if body is None:
        raise response.error(ProviderBadResponse)
    if response.status == 200 and body.get("status") == "success":
        return response
    raise _error_for(response, _BUSINESS_ERRORS | _ONBOARDING_OVERRIDES)


def _error_for(response: ProviderResponse, table: dict[int, tuple[type[GatewayError], str]]) -> GatewayError:
    """A documented CDP code decides, whatever HTTP status carries it (lookup failures come as HTTP 200, and the
    document gives some codes only as a body). Without one, only the HTTP status is left: 429 and 401/403 mean
    what they mean everywhere; anything else, a Spring `Not Found` page included, is CDP failing (502)."""
    body = response.body or {}
    # The lookup names it errorCode, the onboarding error_code: either is read wherever it comes.
    code = int_or_none(body.get("errorCode", body.get("error_code")))
    if code in table:
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
        )
    if response.status == 429:
        return response.error(ProviderRateLimited, provider_code=code)
    if response.status in (401, 403):
        return response.error(ProviderAuthFailed, provider_code=code)  # a 401 survived the token renewal
    return response.error(ProviderFailed, provider_code=code)


@once
def client() -> CdpClient:
    """The instance's client (keep-alive session and token cache), built on first use."""
    return CdpClient()


def customer_lookup(request: CustomerLookupRequest) -> ProviderResponse:
    return client().customer_lookup(request)


def onboard_individual(request: OnboardingRequest) -> ProviderResponse:
    return client().onboard_individual(request)
