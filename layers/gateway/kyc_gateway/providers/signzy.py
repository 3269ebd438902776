"""Signzy EzKRA (India KRA): re-push an investor onboarding, with a cached login token.

Login: `POST {SIGNZY_BASE_URL}/kra-handler/api/customers/login` -> LoopBack access token (`id`, `ttl` seconds).
Repush: `POST {SIGNZY_BASE_URL}/kra-handler/api/onboardings/repush` with the token in `Authorization`.
Errors use LoopBack's envelope: `{"error": {"statusCode": N, "name": "...", "message": "...", "code": "..."}}`.
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
from kyc_gateway.http import ProviderHttp, ProviderResponse
from kyc_gateway.lazy import once
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, TokenCache, cache_key

PROVIDER = "signzy"
LOGIN_PATH = "/kra-handler/api/customers/login"
REPUSH_PATH = "/kra-handler/api/onboardings/repush"

# A MongoDB ObjectId: Signzy answers a 500 for anything else.
ObjectId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]


class RepushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    onboardingId: ObjectId


class SignzySecret(BaseModel):
    username: str
    password: str


class LoginReply(BaseModel):
    id: str = Field(min_length=1)
    ttl: float = Field(gt=0)


class SignzyClient:
    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.require("signzy_base_url")
        self.http = ProviderHttp(PROVIDER, base_url, settings)
        self.credentials = ProviderCredentials(settings.require("signzy_secret_id"), SignzySecret)
        self.tokens = TokenCache(cache_key(PROVIDER, base_url), settings.require("token_table_name"))
        self.bearer = settings.signzy_auth_scheme == "bearer"

    def repush(self, request: RepushRequest) -> ProviderResponse:
        def send(token: str) -> ProviderResponse:
            return self.http.post(
                REPUSH_PATH,
                operation="repush",
                idempotent=False,  # re-submits to the KRA: never retried blindly
                json_body=request.model_dump(),
                headers={"Authorization": f"Bearer {token}" if self.bearer else token, "Accept": "application/json"},
            )

        return _success_or_raise(call_with_token(self.tokens, self._login, send))

    def _login(self, _previous: Token | None) -> Token:
        return self.credentials.use(self._login_with)

    def _login_with(self, secret: SignzySecret) -> Token:
        response = self.http.post(
            LOGIN_PATH,
            operation="login",
            idempotent=True,  # a login creates nothing the caller could see twice
            json_body={"username": secret.username, "password": secret.password},
            headers={"Accept": "application/json"},
        )
        if response.status in (401, 403):
            raise CredentialsRejected(_error_for(response, ProviderAuthFailed))
        if response.status != 200:
            raise _login_error(response)
        try:
            reply = LoginReply.model_validate(response.body or {})
        except ValidationError:
            raise response.error(ProviderBadResponse) from None
        now = time.time()
        return Token.issued(reply.id, now=now, expires_at=now + reply.ttl)


def _login_error(response: ProviderResponse) -> GatewayError:
    if response.body is None:
        return response.error(ProviderBadResponse)
    return _error_for(response, ProviderRateLimited if response.status == 429 else ProviderFailed)


def _success_or_raise(response: ProviderResponse) -> ProviderResponse:
    body = response.body
    if body is None:
        raise response.error(ProviderBadResponse)  # an HTML gateway page, truncated JSON, ...
    if response.status == 200 and "error" not in body:
        return response
    status = _loopback_error(body).get("statusCode", response.status)
    if status == 404 or response.status == 404:
        raise _error_for(response, SubjectNotFound, "onboarding_not_found")
    if 403 in (status, response.status):
        raise _error_for(response, ProviderAuthFailed)  # the gateway's Signzy user may not do this
    if 429 in (status, response.status):
        raise _error_for(response, ProviderRateLimited)
    if isinstance(status, int) and 400 <= status < 500 and 400 <= response.status < 500:
        raise _error_for(response, ProviderRejected)
    raise _error_for(response, ProviderFailed)


def _error_for(response: ProviderResponse, kind: type[GatewayError], code: str | None = None) -> GatewayError:
    error = _loopback_error(response.body or {})
    return response.error(kind, code=code, provider_code=error.get("code") or error.get("name"))


def _loopback_error(body: dict[str, Any]) -> dict[str, Any]:
    error = body.get("error")
    return error if isinstance(error, dict) else {}


@once
def client() -> SignzyClient:
    """The instance's client (keep-alive session and token cache), built on first use."""
    return SignzyClient()


def repush(request: RepushRequest) -> ProviderResponse:
    return client().repush(request)
