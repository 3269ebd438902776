"""connectFi (US KYC/KYB, "akepa"): token, identification, status.

Login: `POST {CONNECTFI_BASE_URL}/auth/get-token` `{"user": {"login", "password"}}` ->
`{"code": "0", "data": {"token", "dtsExpireAt"}}`; the token goes in `x-connectfi-token`.
Errors: `{"requestId", "code", "subCode", "context", "message"}`; connectFi rejects unknown fields.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, model_validator

from kyc_gateway.api import parse_body
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
from kyc_gateway.http import ProviderHttp, ProviderResponse
from kyc_gateway.lazy import once
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, TokenCache, cache_key

PROVIDER = "connectfi"
TOKEN_PATH = "/auth/get-token"  # noqa: S105 - a URL path, not a secret
IDENTIFICATION_PATH = "/akepa/identification"
WEBHOOK_PATH = "/connectfi/webhooks/{token}"  # the gateway's own route
STATUS_PATH = "/akepa/status"

# How a caller finds out whether an identification that timed out was started (never sent twice under one key).
IDENTIFICATION_OUTCOME_CHECK = (
    "connectFi may have started an application for this customer and reference, and offers no lookup by "
    "reference: ask connectFi whether one exists before starting another identification under a new Idempotency-Key"
)

# The documented schemas ("common-id", "common-reference", "common-commonStr500").
ConnectFiId = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=r"^[0-9a-zA-Z_]+$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9a-zA-Z]+$")]
# connectFi documents ^((?![<>]).)*$ for ajv (JavaScript), where `.` matches no line terminator: no < or >, no
# \n, \r, U+2028 or U+2029. The same language without look-ahead, which schema-driven fuzzers' regex engines lack.
WebhookUrl = Annotated[str, StringConstraints(max_length=500, pattern="^[^<>\n\r\u2028\u2029]*$")]


class IdentificationRequest(BaseModel):
    """`webhookUrl` (the example's spelling) or `webhookURL` (the schema table's), not both. Absent or `null`
    means the gateway's own webhook URL (clients that serialise an unset field as null keep their callbacks);
    any string connectFi's schema allows, the empty one included, is forwarded as sent."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customerId: ConnectFiId
    reference: Reference
    syncMode: bool | None = None
    webhookUrl: WebhookUrl | None = None
    webhookURL: WebhookUrl | None = None

    @model_validator(mode="after")
    def _one_webhook_spelling(self) -> IdentificationRequest:
        if self.webhookUrl is not None and self.webhookURL is not None:
            raise ValueError("give webhookUrl or webhookURL, not both")
        return self

    @property
    def webhook(self) -> str | None:
        return self.webhookUrl if self.webhookUrl is not None else self.webhookURL


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customerId: ConnectFiId
    applicationId: ConnectFiId


class ConnectFiSecret(BaseModel):
    login: str
    password: str


class TokenReply(BaseModel):
    token: str = Field(min_length=1)
    dtsExpireAt: dt.datetime


# Documented connectFi codes -> (gateway error, gateway code), whatever HTTP status carries them (connectFi's
# public table gives customerNotFound as a 400). Any other answer is undocumented: 502.
_ERRORS: dict[str, tuple[type[GatewayError], str]] = {
    "applicationNotFound": (SubjectNotFound, "application_not_found"),
    "customerNotFound": (SubjectNotFound, "customer_not_found"),
    "requestValidateError": (ProviderRejected, "provider_validation_failed"),
    "documentNotFound": (ProviderRejected, "document_not_found"),
    "fileNotFound": (ProviderRejected, "file_not_found"),
    "extAkepa": (ProviderRejected, "provider_rejected"),
    "statusApplicationEntity": (ProviderRejected, "invalid_application_state"),
}


class ConnectFiClient:
    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.require("connectfi_base_url")
        self.http = ProviderHttp(PROVIDER, base_url, settings)
        self.credentials = ProviderCredentials(settings.require("connectfi_secret_id"), ConnectFiSecret)
        self.tokens = TokenCache(cache_key(PROVIDER, base_url), settings.require("token_table_name"))
        self.webhook_field = settings.connectfi_webhook_field

    def identification(self, request: IdentificationRequest, default_webhook_url: str) -> ProviderResponse:
        body: dict[str, Any] = {"customerId": request.customerId, "reference": request.reference}
        if request.syncMode is not None:
            body["syncMode"] = request.syncMode
        body[self.webhook_field] = request.webhook if request.webhook is not None else default_webhook_url
        # Creates an application: a write, never retried blindly.
        return self._call(IDENTIFICATION_PATH, "identification", body, idempotent=False)

    def status(self, request: StatusRequest) -> ProviderResponse:
        return self._call(STATUS_PATH, "status", request.model_dump(), idempotent=True)  # a read

    def _call(self, path: str, operation: str, body: dict[str, Any], *, idempotent: bool) -> ProviderResponse:
        def send(token: str) -> ProviderResponse:
            return self.http.post(
                path,
                operation=operation,
                idempotent=idempotent,
                json_body=body,
                headers={"x-connectfi-token": token, "Accept": "application/json"},
            )

        return _success_or_raise(call_with_token(self.tokens, self._login, send))

    def _login(self, _previous: Token | None) -> Token:
        return self.credentials.use(self._login_with)

    def _login_with(self, secret: ConnectFiSecret) -> Token:
        response = self.http.post(
            TOKEN_PATH,
            operation="token",
            idempotent=True,
            json_body={"user": {"login": secret.login, "password": secret.password}},
            headers={"Accept": "application/json"},
        )
        if response.status in (401, 403):
            raise CredentialsRejected(response.error(ProviderAuthFailed, provider_code=_code(response)))
        if response.status != 200 or response.body is None:
            raise _error_for(response)
        try:
            reply = TokenReply.model_validate((response.body or {}).get("data") or {})
        except ValidationError:
            raise response.error(ProviderBadResponse) from None
        expires_at = reply.dtsExpireAt
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        return Token.issued(reply.token, now=time.time(), expires_at=expires_at.timestamp())


def _success_or_raise(response: ProviderResponse) -> ProviderResponse:
    body = response.body
    if response.status == 200 and body is not None and str(body.get("code")) == "0" and "data" in body:
        return response
    raise _error_for(response)


def _error_for(response: ProviderResponse) -> GatewayError:
    body = response.body
    if body is None:
        return response.error(ProviderBadResponse)  # an HTML error page, truncated JSON, ...
    code = _code(response)
    if response.status == 429:
        return response.error(ProviderRateLimited, provider_code=code)
    if response.status in (401, 403):
        return response.error(ProviderAuthFailed, provider_code=code)
    kind, gateway_code = _ERRORS.get(code or "", (ProviderFailed, None))  # a route miss ("Cannot POST") included
    details = _validation_context(body) if code == "requestValidateError" else None
    return response.error(kind, code=gateway_code, provider_code=code, details=details)


def _validation_context(body: dict[str, Any]) -> list[dict[str, Any]]:
    """connectFi's `context` for requestValidateError: ajv errors, one per failing field (no submitted values)."""
    context = body.get("context")
    if not isinstance(context, list):
        return []
    keep = ("instancePath", "schemaPath", "keyword", "params", "message")
    return [{key: item[key] for key in keep if key in item} for item in context if isinstance(item, dict)]


def _code(response: ProviderResponse) -> str | None:
    code = (response.body or {}).get("code")
    return str(code) if code is not None else None


class WebhookSecret(BaseModel):
    token: str = Field(min_length=32)


class Identification(IdentificationRequest):
    _origin: str = PrivateAttr("")


def parse_identification(event: dict[str, Any], model: type[Identification]) -> Identification:
    """The identification body, remembering the API's own URL as a fallback for PUBLIC_BASE_URL."""
    request = parse_body(event, model)
    context = event.get("requestContext") or {}
    if context.get("domainName") and context.get("stage"):
        stage = context["stage"]  # an HTTP API's $default stage has no path of its own
        request._origin = f"https://{context['domainName']}" + ("" if stage == "$default" else f"/{stage}")
    return request


def identification(request: Identification) -> ProviderResponse:
    """Start an identification; without a webhookUrl, callbacks go to the gateway's own webhook route."""
    default_url = None
    if request.webhook is None:
        base_url = get_settings().public_base_url or request._origin
        default_url = base_url + WEBHOOK_PATH.format(token=webhook_token())
    return client().identification(request, default_url)


def status(request: StatusRequest) -> ProviderResponse:
    return client().status(request)


def webhook_token() -> str:
    """The secret in the gateway's webhook URL (connectFi signs nothing)."""
    return _webhook_secret().get().token


@once
def _webhook_secret() -> ProviderCredentials[WebhookSecret]:
    return ProviderCredentials(get_settings().require("connectfi_webhook_secret_id"), WebhookSecret)


@once
def client() -> ConnectFiClient:
    """The instance's client (keep-alive session and token cache), built on first use."""
    return ConnectFiClient()
