"""Signzy EzKRA (India KRA): re-push an investor onboarding, with a cached login token.

Login: `POST {SIGNZY_BASE_URL}/kra-handler/api/customers/login` -> LoopBack access token (`id`, `ttl` seconds).
Repush: `POST {SIGNZY_BASE_URL}/kra-handler/api/onboardings/repush` with the token in `Authorization`.
Errors use LoopBack's envelope: `{"error": {"statusCode": N, "name": "...", "message": "...", "code": "..."}}`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from kyc_gateway import clock
from kyc_gateway.errors import (
    GatewayError,
    ProviderRejected,
    SubjectNotFound,
)
from kyc_gateway.model import Model
from kyc_gateway.observability import logger
from kyc_gateway.provider_response import ProviderResponse, int_or_none
from kyc_gateway.providers.base import ProviderClient, Send, json_body, undocumented
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token

LOGIN_PATH = "/kra-handler/api/customers/login"
REPUSH_PATH = "/kra-handler/api/onboardings/repush"

# How a caller finds out whether a repush that timed out was done (it is never sent twice under one key).
REPUSH_OUTCOME_CHECK = (
    "Signzy may have re-pushed the onboarding to the KRA: check the onboarding's KRA status with Signzy, then "
    "repush under a new Idempotency-Key if it is still needed"
)

# A MongoDB ObjectId: Signzy answers a 500 for anything else.
ObjectId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]


class RepushRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    onboardingId: ObjectId


class SignzySecret(Model):
    username: str
    password: str


class LoginReply(Model):
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
            logger.info("signzy authorization form settled", provider="signzy", form=form)


def _authenticated(response: ProviderResponse) -> bool:
    """Signzy got past its token check: a success, or its own refusal of the onboarding (403, 404, other 4xx)."""
    if 200 <= response.status < 300:
        return True
    error = _loopback_error(response.body or {})
    return bool(error) and 400 <= response.status < 500 and response.status not in (401, 429) and not _route_miss(error)


class SignzyClient(ProviderClient):
    name = "signzy"
    secret_model = SignzySecret
    uses_tokens = True

    def __init__(self) -> None:
        super().__init__()
        self.authorization = AuthorizationForm(get_settings().signzy_auth_header)

    def repush(self, request: RepushRequest) -> ProviderResponse:
        body = {get_settings().signzy_onboarding_id_field: request.onboardingId}  # the spelling Signzy reads

        def sender(form: str) -> Send:
            send = self.sender(
                REPUSH_PATH,
                "repush",
                body,
                idempotent=False,  # re-submits to the KRA: never retried blindly (a 401 is: nothing was done)
                header=lambda token: {"Authorization": AuthorizationForm.header(form, token)},
            )

            def send_and_learn(token: str) -> ProviderResponse:
                response = send(token)
                self.authorization.answered(form, response)
                return response

            return send_and_learn

        form = self.authorization
        probe = sender(form.other()) if form.probing else None
        return _success_or_raise(self.with_token(sender(form.form), on_token_refused=probe))

    def log_in(self, secret: SignzySecret, previous: Token | None) -> Token:
        response = self.http.post(
            LOGIN_PATH,
            operation="login",
            idempotent=True,  # a login creates nothing the caller could see twice
            json_body={"username": secret.username, "password": secret.password},
            headers={"Accept": "application/json"},
        )
        reply = self.token_answer(response, LoginReply, code=_provider_code)
        now = clock.now()
        return Token.issued(reply.id, now=now, expires_at=now + reply.ttl)


def _success_or_raise(response: ProviderResponse) -> ProviderResponse:
    """Signzy's documented signals: its LoopBack error envelope and HTTP status. Anything else is Signzy (or our
    configuration of it) failing: 502, never the caller's fault."""
    body = json_body(response)
    if response.status == 200 and "error" not in body:
        return response
    error = _loopback_error(body)
    status = int_or_none(error.get("statusCode")) or response.status
    statuses = {status, response.status}
    # Only an error about the onboarding means the caller's onboarding does not exist; LoopBack's route misses
    # ("Cannot POST ...", "There is no method to handle ...") mean our base URL or Signzy is wrong.
    if error and 404 in statuses and _names_the_onboarding(error):
        raise _error_for(response, SubjectNotFound, "onboarding_not_found")
    # Another 4xx in LoopBack's envelope: Signzy refused this onboarding (a SyntaxError is our request's fault).
    client_errors = all(400 <= code < 500 for code in statuses) and not statuses & {401, 403, 404, 429}
    if error and client_errors and error.get("name") != "SyntaxError":
        raise _error_for(response, ProviderRejected)
    raise undocumented(response, _provider_code(body), status=status)


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
    return response.error(kind, code=code, provider_code=_provider_code(response.body or {}))


def _provider_code(body: dict[str, Any]) -> str | None:
    error = _loopback_error(body)
    return error.get("code") or error.get("name")


def _loopback_error(body: dict[str, Any]) -> dict[str, Any]:
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def repush(request: RepushRequest) -> ProviderResponse:
    return SignzyClient.instance().repush(request)
