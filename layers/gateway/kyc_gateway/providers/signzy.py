"""Signzy EzKRA (India KRA): re-push an investor onboarding, with a cached login token.

Login: `POST {SIGNZY_BASE_URL}/kra-handler/api/customers/login` -> LoopBack access token (`id`, `ttl` seconds).
Repush: `POST {SIGNZY_BASE_URL}/kra-handler/api/onboardings/repush` with the token in `Authorization`.
Errors use LoopBack's envelope: `{"error": {"statusCode": N, "name": "...", "message": "...", "code": "..."}}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints, field_validator

from kyc_gateway import clock
from kyc_gateway.errors import (
    GatewayError,
    ProviderAuthFailed,
    ProviderFailed,
    ProviderRateLimited,
)
from kyc_gateway.model import Model
from kyc_gateway.observability import logger
from kyc_gateway.provider_response import ProviderResponse, int_or_none
from kyc_gateway.providers.base import FieldSpelling, HeaderToken, ProviderClient, json_body
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
# That 500's message, the repush page's one error: BSON's words (bson 4 adds "or an integer"; bson 5 says it otherwise,
# which would be Signzy failing, never sent again).
_NOT_AN_OBJECT_ID = re.compile(r"12 bytes.*24 hex characters", re.IGNORECASE | re.DOTALL)
# The repush field: the page's text spells it onboardingid, its sample answer's camelCase suggests onboardingId.
ONBOARDING_ID_SPELLINGS = ("onboardingId", "onboardingid")


class RepushRequest(Model):
    """The onboarding to re-push."""

    model_config = ConfigDict(extra="forbid", strict=True)

    onboardingId: ObjectId

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the onboarding id."""
        yield "onboarding_id", self.onboardingId


class SignzySecret(Model):
    username: str
    password: str


# LoopBack's AccessToken lives two weeks by default (the login example's ttl); a ttl of -1 is LoopBack's token that
# never expires, kept as long, or until Signzy refuses it.
_LOOPBACK_TTL_SECONDS = 1209600.0
_NEVER_EXPIRES = -1


class LoginReply(Model):
    id: HeaderToken
    ttl: float

    @field_validator("ttl")
    @classmethod
    def _lifetime(cls, ttl: float) -> float:
        if ttl == _NEVER_EXPIRES:
            return _LOOPBACK_TTL_SECONDS
        if ttl <= 0:
            raise ValueError("must be a number of seconds above 0, or -1 (never expires)")
        return ttl


class AuthorizationForm:
    """How the login token goes in `Authorization`: `Bearer <id>` (the repush page) or the raw id (Signzy's other
    EzKRA pages; LoopBack, which EzKRA runs on, base64-decodes a Bearer value by default, so only one of the two
    can work). Mode `auto` starts with the documented form and, when a token is refused, tries the other form
    with the same token; the first form whose token passes authentication is kept. A token obtained moments ago
    refused in the kept form re-opens the question once (Signzy may have changed its reading). `bearer` or `raw`
    pins one form."""

    def __init__(self, mode: str) -> None:
        self.form = "raw" if mode == "raw" else "bearer"
        self.auto = mode == "auto"
        self.probing = self.auto

    @staticmethod
    def header(form: str, token: str) -> str:
        return f"Bearer {token}" if form == "bearer" else token

    def other(self, form: str | None = None) -> str:
        """The form that is not `form` (by default, not the kept one)."""
        return "raw" if (form or self.form) == "bearer" else "bearer"

    def answered(self, form: str, response: ProviderResponse) -> None:
        """Keep `form` once an answer proves its token passed authentication (logged once, without the token).
        A proxy's 502, a 429 or a route miss proves nothing: the form stays open."""
        if self.probing and _authenticated(response):
            self.form, self.probing = form, False
            logger.info("signzy authorization form settled", provider="signzy", form=form)


def _authenticated(response: ProviderResponse) -> bool:
    """Signzy got past its token check: a success, its own refusal of the onboarding (403, 404, other 4xx), or its
    500 for the id it read from the body."""
    if 200 <= response.status < 300 or _read_no_id(response):
        return True
    error = _loopback_error(response.body or {})
    return bool(error) and 400 <= response.status < 500 and response.status not in (401, 429) and not _route_miss(error)


class SignzyClient(ProviderClient):
    name = "signzy"
    secret_model = SignzySecret
    uses_tokens = True

    def __init__(self) -> None:
        super().__init__()
        settings = get_settings()
        self.authorization = AuthorizationForm(settings.signzy_auth_header)
        self.onboarding_id_field = FieldSpelling(
            self.name,
            ONBOARDING_ID_SPELLINGS,
            settings.signzy_onboarding_id_field,
            settled_message="signzy onboarding id field settled",
        )

    def repush(self, request: RepushRequest) -> ProviderResponse:
        spelling = self.onboarding_id_field
        field = spelling.first
        response = self._authorized({field: request.onboardingId})
        if spelling.auto and _read_no_id(response):
            # Signzy's 500 for an id that is no ObjectId, to one that is: it read none under this spelling, so it
            # did nothing. Sent once more under the other.
            field = spelling.other(field)
            response = self._authorized({field: request.onboardingId})
        if spelling.auto and response.status == 200:
            spelling.read(field)  # a refusal (a 422 included) would not say Signzy read the field
        return _success_or_raise(response)

    def _authorized(self, body: dict[str, Any]) -> ProviderResponse:
        """The repush sent with the cached token, in the known Authorization form (each form while it is not
        known). A refused token is replaced and the repush sent once more. A new token refused means Signzy refuses
        the gateway, or now reads the other form (tried once, in auto mode): then 502, never the caller's 401; the
        new token stays cached, and the next request that meets its refusal replaces it again."""
        token = self.tokens.get(self._new_token)
        response = self._send_in_known_forms(body, token.value)
        if response.status != 401:
            return response
        self.tokens.invalidate(token)
        token = self.tokens.get(self._new_token)
        response = self._send_in_known_forms(body, token.value)
        if response.status == 401 and self.authorization.auto and not self.authorization.probing:
            response = self._reprobe(body, token.value)  # a token this new refused: the form may have changed
        if response.status == 401:
            raise _credentials_refused(response)
        return response

    def _send_in_known_forms(self, body: dict[str, Any], token: str) -> ProviderResponse:
        sent = self.authorization.form
        response = self._send(body, token, sent)
        if response.status == 401 and (self.authorization.probing or self.authorization.form != sent):
            # the other form: still being found out, or found by a concurrent request while this one was refused
            response = self._send(body, token, self.authorization.other(sent))
        return response

    def _reprobe(self, body: dict[str, Any], token: str) -> ProviderResponse:
        """The kept form refused a new token: try the other form once with it; keep it if it authenticates."""
        form = self.authorization
        form.probing = True
        response = self._send(body, token, form.other())
        form.probing = False  # settled on the other form if it authenticated, else still on the kept one
        return response

    def _send(self, body: dict[str, Any], token: str, form: str) -> ProviderResponse:
        response = self.http.post(
            REPUSH_PATH,
            operation="repush",
            idempotent=False,  # re-submits to the KRA: never retried blindly (a 401 is: nothing was done)
            json_body=body,
            headers={"Authorization": AuthorizationForm.header(form, token), "Accept": "application/json"},
        )
        self.authorization.answered(form, response)
        return response

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


def _read_no_id(response: ProviderResponse) -> bool:
    """Signzy's documented 500: the id it read, if any, is not an ObjectId."""
    if response.status != 500:  # every success passes here: read no error body for it
        return False
    message = _loopback_error(response.body or {}).get("message")
    return isinstance(message, str) and bool(_NOT_AN_OBJECT_ID.search(message))


def _credentials_refused(response: ProviderResponse) -> GatewayError:
    """Signzy refusing the gateway's token (a new one too): 502, never the caller's 401, naming Signzy's answer."""
    return response.error(ProviderAuthFailed, provider_code=_provider_code(response.body or {}))


def _success_or_raise(response: ProviderResponse) -> ProviderResponse:
    """Signzy's success, or the gateway error its answer means. The repush page documents one error only, a 500 for
    an id that is not an ObjectId (which the gateway's own check rules out): no answer of Signzy's is the caller's.
    Any LoopBack error, whatever its status (a 404 `MODEL_NOT_FOUND` or a route miss, a 422 `ValidationError`, a 403
    from an access rule), is Signzy failing: 502, with its status and its error's name; a 429 is a rate limit, as
    everywhere."""
    body = json_body(response)
    if response.status == 200 and "error" not in body:
        return response
    error = _loopback_error(body)
    status = int_or_none(error.get("statusCode", error.get("statuscode"))) or response.status  # the page's text: both
    kind = ProviderRateLimited if response.throttled or 429 in {status, response.status} else ProviderFailed
    if _read_no_id(response):  # the page's one error: it read no onboarding id, so it re-pushed nothing
        raise response.error(kind, provider_code=error.get("name"))
    raise response.unusable(kind, error.get("name"))


# LoopBack's answers for a path it does not serve: its url-not-found handler, the REST router, and a known model
# without that method (no token was checked: such an answer settles no Authorization form).
_ROUTE_MISS = re.compile(r"^(Cannot [A-Z]+ /|There is no method to handle )|has no method handling ")


def _route_miss(error: dict[str, Any]) -> bool:
    return bool(_ROUTE_MISS.search(str(error.get("message") or "")))


def _provider_code(body: dict[str, Any]) -> str | None:
    error = _loopback_error(body)
    return error.get("code") or error.get("name")


def _loopback_error(body: dict[str, Any]) -> dict[str, Any]:
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def repush(request: RepushRequest) -> ProviderResponse:
    return SignzyClient.instance().repush(request)
