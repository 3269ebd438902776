"""Signzy EzKRA (India KRA): re-push an investor onboarding, with a cached login token.

Login: `POST {SIGNZY_BASE_URL}/kra-handler/api/customers/login` -> LoopBack access token (`id`, `ttl` seconds).
Repush: `POST {SIGNZY_BASE_URL}/kra-handler/api/onboardings/repush` with the token in `Authorization`.
Errors use LoopBack's envelope: `{"error": {"statusCode": N, "name": "...", "message": "...", "code": "..."}}`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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
from kyc_gateway.observability import logger
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, TokenCache, cache_key

PROVIDER = "signzy"
LOGIN_PATH = "/kra-handler/api/customers/login"
REPUSH_PATH = "/kra-handler/api/onboardings/repush"

# How a caller finds out whether a repush that timed out was done (it is never sent twice under one key).
REPUSH_OUTCOME_CHECK = (
    "Signzy may have re-pushed the onboarding to the KRA: check the onboarding's KRA status with Signzy, then "
    "repush under a new Idempotency-Key if it is still needed"
)

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


class AuthorizationForm:
    """How the login token goes in `Authorization`: `Bearer <id>` (the repush page) or the raw id (Signzy's other
    EzKRA pages; LoopBack, which EzKRA runs on, base64-decodes a Bearer value by default, so only one of the two
    can work). Mode `auto` starts with the documented form and, when a token is refused, tries the other form
    with the same token; the first form whose token passes authentication is kept for the life of the instance.
    `bearer` or `raw` pins one form."""

    def __init__(self, mode: str) -> None:
        self.form = "raw" if mode == "raw" else "bearer"
        self.probing = mode == "auto"

    @staticmethod
    def header(form: str, token: str) -> str:
        return f"Bearer {token}" if form == "bearer" else token

    def other(self) -> str:
        return "raw" if self.form == "bearer" else "bearer"

    def answered(self, form: str, response: ProviderResponse) -> None:
        """Keep `form` once an answer proves its token passed authentication (logged once, without the token).
        A proxy's 502, a 429 or a route miss proves nothing: the form stays open."""
        if self.probing and _authenticated(response):
            self.form, self.probing = form, False
            logger.info("signzy authorization form settled", provider=PROVIDER, form=form)


def _authenticated(response: ProviderResponse) -> bool:
    """Signzy got past its token check: a success, or its own refusal of the onboarding (403, 404, other 4xx)."""
    if 200 <= response.status < 300:
        return True
    error = _loopback_error(response.body or {})
    return bool(error) and 400 <= response.status < 500 and response.status not in (401, 429) and not _route_miss(error)


class SignzyClient:
    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.require("signzy_base_url")
        self.http = ProviderHttp(PROVIDER, base_url, settings)
        self.credentials = ProviderCredentials(settings.require("signzy_secret_id"), SignzySecret)
        self.tokens = TokenCache(cache_key(PROVIDER, base_url), settings.require("token_table_name"))
        self.authorization = AuthorizationForm(settings.signzy_auth_header)

    def repush(self, request: RepushRequest) -> ProviderResponse:
        body = request.model_dump()

        def sender(form: str) -> Callable[[str], ProviderResponse]:
            def send(token: str) -> ProviderResponse:
                response = self.http.post(
                    REPUSH_PATH,
                    operation="repush",
                    idempotent=False,  # re-submits to the KRA: never retried blindly (a 401 is: nothing was done)
                    json_body=body,
                    headers={"Authorization": AuthorizationForm.header(form, token), "Accept": "application/json"},
                )
                self.authorization.answered(form, response)
                return response

            return send

        form = self.authorization
        probe = sender(form.other()) if form.probing else None
        response = call_with_token(self.tokens, self._login, sender(form.form), on_token_refused=probe)
        return _success_or_raise(response)

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
    """Signzy's documented signals: its LoopBack error envelope and HTTP status. Anything else is Signzy (or our
    configuration of it) failing: 502, never the caller's fault."""
    body = response.body
    if body is None:
        raise response.error(ProviderBadResponse)  # an HTML gateway page, truncated JSON, ...
    if response.status == 200 and "error" not in body:
        return response
    error = _loopback_error(body)
    status = int_or_none(error.get("statusCode")) or response.status
    if 429 in (status, response.status):
        raise _error_for(response, ProviderRateLimited)
    if not error:
        raise _error_for(response, ProviderFailed)  # JSON, but not LoopBack's envelope
    if 404 in (status, response.status):
        # Only an error about the onboarding means the caller's onboarding does not exist; LoopBack's
        # "There is no method to handle POST ..." is a route miss: our base URL or Signzy is wrong.
        if _names_the_onboarding(error):
            raise _error_for(response, SubjectNotFound, "onboarding_not_found")
        raise _error_for(response, ProviderFailed)
    if 403 in (status, response.status):
        raise _error_for(response, ProviderAuthFailed)  # the gateway's Signzy user may not do this
    if 400 <= status < 500 and 400 <= response.status < 500 and error.get("name") != "SyntaxError":
        raise _error_for(response, ProviderRejected)  # Signzy refused this onboarding, in its own envelope
    raise _error_for(response, ProviderFailed)


# LoopBack's answers for a path it does not serve: its url-not-found handler, the REST router, and a known model
# without that method. They name the path (which names "onboardings"), never a missing onboarding.
_ROUTE_MISS = re.compile(r"^(Cannot [A-Z]+ /|There is no method to handle )|has no method handling ")
_NOT_FOUND = re.compile(r"\b(not found|unknown|does not exist|no such)\b", re.IGNORECASE)


def _route_miss(error: dict[str, Any]) -> bool:
    return bool(_ROUTE_MISS.search(str(error.get("message") or "")))


def _names_the_onboarding(error: dict[str, Any]) -> bool:
    """LoopBack's own not-found for the model (`MODEL_NOT_FOUND`: Unknown "onboarding" id "..."), or an error
    saying the onboarding is not found; never a route miss."""
    if _route_miss(error):
        return False
    message = str(error.get("message") or "")
    about_onboarding = "onboarding" in message.lower() and bool(_NOT_FOUND.search(message))
    return error.get("code") == "MODEL_NOT_FOUND" or about_onboarding


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
