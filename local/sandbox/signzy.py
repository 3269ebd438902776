"""Signzy EzKRA (LoopBack): login tokens, onboarding repush, LoopBack's error envelope and route misses."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping
from typing import Any

from local.sandbox.common import (
    EXTRA_FIELD,
    Effect,
    Option,
    Provider,
    Reply,
    Request,
    SandboxServices,
    TokenStore,
    html_reply,
    iso_z,
    json_reply,
    stable_hex,
    utcnow,
)

OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")  # fullmatch: `$` would let a final newline through
SIGNZY_BAD_OBJECT_ID = "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"
SIGNZY_REAUTH_ID = "000000000000000000000401"
SIGNZY_DENIED_ID = "00000000000000000000a401"  # an access rule denies it: 401 with any token


# The fake secrets the local stack gives the gateway to reach this provider, by secret name (its sections of
# local/secrets.local.json, generated from this): never real values.
LOCAL_SECRETS = {"signzy": {"username": "local-signzy-user", "password": "local-signzy-password-not-real"}}


class Signzy(Provider):
    name, prefix = "signzy", "/signzy"
    options = (
        Option("signzy_token_ttl", int, 1209600, "Signzy login token ttl (14 days), seconds"),
        Option(
            "signzy_auth_header",
            str,
            "raw",
            "the one Authorization form accepted: the raw token id (LoopBack's default) or Bearer <id>",
            ("raw", "bearer"),
        ),
        Option(
            "signzy_onboarding_id_field",
            str,
            "onboardingId",
            "the one spelling of the repush body's field read (the repush page's text: onboardingid); the other "
            "is absent to it (Signzy's 500)",
            ("onboardingId", "onboardingid"),
        ),
    )

    def __init__(self, sandbox: SandboxServices, credentials: dict, options: Mapping[str, Any]) -> None:
        super().__init__(sandbox, credentials, options)
        self._username, self._password = credentials["username"], credentials["password"]
        self._ttl = options["signzy_token_ttl"]
        self.auth_header = options["signzy_auth_header"]
        self._onboarding_id_field = options["signzy_onboarding_id_field"]
        self.tokens = TokenStore(self.lock)
        self._bounce_next = True  # the re-auth magic id alternates: 401 (token forgotten), then success
        self.magic_ids: dict[str, Effect] = {
            "000000000000000000000404": lambda: self._error(404, 'Unknown "onboarding" id.', code="MODEL_NOT_FOUND"),
            "000000000000000000000500": lambda: self._error(500, "Internal Server Error"),
            "000000000000000000000502": lambda: html_reply(502),
            "000000000000000000000504": sandbox.pause,
            # Not documented for the repush, but what LoopBack answers: a model validation error, an access rule's
            # denial (403, or 401 like an unknown token: whatever token comes). The gateway must take them for
            # Signzy failing, never for the caller's fault.
            "000000000000000000000422": self._validation_error,
            "000000000000000000000403": lambda: self._error(403, "Access denied", code="ACCESS_DENIED"),
            SIGNZY_DENIED_ID: lambda: self._error(401, "Authorization Required", code="AUTHORIZATION_REQUIRED"),
        }

    def routes(self):
        return {
            ("POST", "/kra-handler/api/customers/login"): ("login", self.login),
            ("POST", "/kra-handler/api/onboardings/repush"): ("repush", self.repush),
        }

    def not_found(self, request):
        """LoopBack's three answers for a path it does not serve."""
        path = self.relative(request)
        if path.startswith("/kra-handler/api/onboardings/"):
            method_path = path.removeprefix("/kra-handler/api/onboardings")
            return self._error(404, f'Shared class "onboarding" has no method handling {request.method} {method_path}')
        if path.startswith("/kra-handler/api/"):
            return self._error(404, f"There is no method to handle {request.method} {path}")
        return self._error(404, f"Cannot {request.method} {path}")

    def forget_tokens(self):
        self.tokens.clear()

    def reset(self):
        super().reset()
        with self.lock:
            self._bounce_next = True

    # LoopBack error envelope.
    @staticmethod
    def _error(status: int, message: str, name: str = "Error", code: str | None = None) -> Reply:
        error = {"statusCode": status, "name": name, "message": message}
        if code:
            error["code"] = code
        return json_reply(status, {"error": error})

    @staticmethod
    def _validation_error() -> Reply:
        """LoopBack's answer for a model that fails its validation (`ValidationError`, 422, with `details`)."""
        error = {
            "statusCode": 422,
            "name": "ValidationError",
            "message": 'The `onboarding` instance is not valid. Details: `status` is invalid (value: "closed").',
            "details": {
                "context": "onboarding",
                "codes": {"status": ["inclusion"]},
                "messages": {"status": ["is invalid"]},
            },
        }
        return json_reply(422, {"error": error})

    def _json_body(self, request: Request) -> tuple[Any, Reply | None]:
        try:
            return request.json(), None
        except ValueError as exc:
            message = f"Unexpected token in JSON at position {getattr(exc, 'pos', 0)}"
            return None, self._error(400, message, name="SyntaxError")

    def _token(self, request: Request) -> str:
        """The access token id, read in exactly one form. `raw` is LoopBack's default: the header is the id, and a
        `Bearer` value is base64-decoded first (so `Bearer <id>` names no token). `bearer`: only `Bearer <id>`."""
        value = request.header("Authorization")
        if self.auth_header == "bearer":
            return value[len("Bearer ") :] if value.startswith("Bearer ") else ""
        if value.startswith("Bearer "):
            try:
                return base64.b64decode(value[len("Bearer ") :]).decode("utf-8")
            except ValueError:
                return ""
        return value

    def login(self, request: Request) -> Reply:
        body, failure = self._json_body(request)
        if failure:
            return failure
        body = body if isinstance(body, dict) else {}
        username, password = body.get("username"), body.get("password")
        if not username:
            return self._error(400, "username or email is required", code="USERNAME_EMAIL_REQUIRED")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and hmac.compare_digest(username.encode(), self._username.encode())
            and hmac.compare_digest(password.encode(), self._password.encode())
        ):
            return self._error(401, "login failed", code="LOGIN_FAILED")
        user_id = stable_hex(username, 24)
        token = self.tokens.issue(self._ttl, user_id=user_id)
        return json_reply(200, {"id": token, "ttl": self._ttl, "created": iso_z(utcnow()), "userId": user_id})

    def repush(self, request: Request) -> Reply:
        token = self._token(request)
        session = self.tokens.valid(token)
        if session is None:
            return self._error(401, "Authorization Required", code="AUTHORIZATION_REQUIRED")
        body, failure = self._json_body(request)
        if failure:
            return failure
        onboarding_id = body.get(self._onboarding_id_field) if isinstance(body, dict) else None
        if not isinstance(onboarding_id, str) or not OBJECT_ID.fullmatch(onboarding_id):
            return self._error(500, SIGNZY_BAD_OBJECT_ID)
        if onboarding_id == SIGNZY_REAUTH_ID and self._bounce(token):
            return self._error(401, "Authorization Required", code="AUTHORIZATION_REQUIRED")
        answer = {
            "onboardingId": onboarding_id,
            "customerId": session["user_id"],
            "callbackUrl": "",
            "message": "The application is in progress, and it has been repushed to KRA",
        }
        if self._onboarding_id_field == "onboardingid":  # the page's lower-case reading, of its answer's keys too
            answer = {key.lower(): value for key, value in answer.items()}
        return self.magic(self.magic_ids, onboarding_id) or json_reply(200, answer | EXTRA_FIELD)

    def _bounce(self, token: str) -> bool:
        """Alternate: forget the caller's token and refuse, then let the retry through."""
        with self.lock:
            bounce, self._bounce_next = self._bounce_next, not self._bounce_next
        if bounce:
            self.tokens.revoke(token)
        return bounce


PROVIDER = Signzy
