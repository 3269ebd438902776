"""Local provider sandbox: one HTTP server standing in for connectFi, Signzy EzKRA, Cladfy and CDP.

It follows the provider documents in shared/providers (field names, shapes, status codes and error
envelopes), including each documented failure, selectable by the magic inputs listed in
the README ("Provider sandbox"). Standard library only.

    python local/sandbox.py --port 4010 --secrets local/secrets.local.json

Each provider lives under its own path prefix (see ``ProviderSandbox.base_urls``); the admin
endpoints live under ``/_sandbox/``. Logs carry only method, path and status: never bodies,
tokens or personal data.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import signal
import socket
import string
import struct
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_PORT = 4010
DEFAULT_SECRETS = Path(__file__).resolve().with_name("secrets.local.json")
MAX_BODY_BYTES = 20 * 1024 * 1024
EXTRA_FIELD = {"extra_field": "kept"}  # undocumented field on success bodies, to test pass-through
ALNUM = string.ascii_letters + string.digits
WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # deliver directly, ignore *_proxy


# ---------------------------------------------------------------------------------------------
# Small shared helpers
# ---------------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """2022-10-07T08:18:57.360Z"""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_offset(moment: datetime) -> str:
    """2023-12-22T06:04:30.477+00:00 (Spring Boot style)"""
    return iso_z(moment)[:-1] + "+00:00"


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def random_hex(length: int) -> str:
    return secrets.token_hex((length + 1) // 2)[:length]


def stable_digits(seed: str, length: int) -> str:
    """Deterministic digits derived from seed (same input, same synthetic record)."""
    number = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(number)[-length:].zfill(length)


def stable_hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def log(line: str) -> None:
    sys.stderr.write(f"sandbox: {line}\n")
    sys.stderr.flush()


@dataclass
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return (self.headers.get(name) or "").strip()

    def json(self) -> Any:
        """Parsed JSON body; raises ValueError when the body is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """Form fields (every value kept, to detect duplicates); empty unless form-encoded."""
        if not self.header("Content-Type").lower().startswith("application/x-www-form-urlencoded"):
            return {}
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False  # drop the connection (TCP RST) instead of answering
    cut: bool = False  # send the headers and half the body, then close: the answer breaks off mid-body


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def html_reply(status: int) -> Reply:
    """An nginx-style HTML error page, as a provider's gateway would send it."""
    title = f"{status} {HTTPStatus(status).phrase}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), "text/html")


def truncated_json_reply(payload: Any) -> Reply:
    """HTTP 200, Content-Type JSON, but the body stops half way (invalid JSON)."""
    text = json.dumps(payload).encode()
    return Reply(200, text[: len(text) // 2])


Handler = Callable[[Request], Reply]
Effect = Callable[[], "Reply | None"]


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


@dataclass
class _Token:
    expires_at: float
    meta: dict
    used: bool = False


class TokenStore:
    """Issued tokens with expiry; single-use consumption for refresh tokens. Thread-safe."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._tokens: dict[str, _Token] = {}

    def issue(self, ttl: float, length: int = 64, **meta: Any) -> str:
        token = random_alnum(length)
        with self._lock:
            self._tokens[token] = _Token(time.time() + ttl, meta)
        return token

    def valid(self, token: str) -> dict | None:
        """The token's metadata when it is known, unused and unexpired; otherwise None."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.used or record.expires_at <= time.time():
                return None
            return record.meta

    def consume(self, token: str) -> tuple[str, dict | None]:
        """Single use: ("ok", meta) the first time; ("inactive", None) when used or expired; ("unknown", None)."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return "unknown", None
            if record.used or record.expires_at <= time.time():
                return "inactive", None
            record.used = True
            return "ok", record.meta

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# ---------------------------------------------------------------------------------------------
# A tiny ajv-style JSON Schema validator (the subset connectFi's documents use)
# ---------------------------------------------------------------------------------------------

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _ajv_error(keyword: str, params: dict, message: str, instance_path: str, schema_path: str) -> dict:
    return {
        "instancePath": instance_path,
        "schemaPath": f"{schema_path}/{keyword}",
        "keyword": keyword,
        "params": params,
        "message": message,
    }


def ajv_errors(schema: dict, value: Any, instance_path: str = "", schema_path: str = "#") -> list[dict]:
    """Validate like ajv (allErrors) and return its error objects."""
    if value is None and schema.get("nullable"):
        return []
    kind = schema.get("type")
    if kind and not _JSON_TYPES[kind](value):
        return [_ajv_error("type", {"type": kind}, f"must be {kind}", instance_path, schema_path)]
    checks = {"object": _object_errors, "string": _string_errors}
    return checks[kind](schema, value, instance_path, schema_path) if kind in checks else []


def _object_errors(schema: dict, value: dict, instance_path: str, schema_path: str) -> list[dict]:
    def error(keyword: str, params: dict, message: str) -> dict:
        return _ajv_error(keyword, params, message, instance_path, schema_path)

    properties = schema.get("properties", {})
    errors = [
        error("required", {"missingProperty": name}, f"must have required property '{name}'")
        for name in schema.get("required", [])
        if name not in value
    ]
    if schema.get("additionalProperties") is False:
        errors += [
            error("additionalProperties", {"additionalProperty": name}, "must NOT have additional properties")
            for name in value
            if name not in properties
        ]
    for name, subschema in properties.items():
        if name in value:
            errors += ajv_errors(subschema, value[name], f"{instance_path}/{name}", f"{schema_path}/properties/{name}")
    return errors


def js_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` with JavaScript's meaning (ajv runs on Node): outside a character class, `.` matches no line
    terminator (\\n, \\r, U+2028, U+2029) and `$` only the end of the text (Python's also matches before a final
    newline); `\\d` and `\\w` are ASCII."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")
        elif char == "$":
            out.append("\\Z")
        else:
            out.append(char)
    return re.compile("".join(out), re.ASCII)  # JavaScript's \d and \w are ASCII-only


def _string_errors(schema: dict, value: str, instance_path: str, schema_path: str) -> list[dict]:
    def error(keyword: str, params: dict, message: str) -> dict:
        return _ajv_error(keyword, params, message, instance_path, schema_path)

    errors = []
    if "minLength" in schema and len(value) < (limit := schema["minLength"]):
        errors.append(error("minLength", {"limit": limit}, f"must NOT have fewer than {limit} characters"))
    if "maxLength" in schema and len(value) > (limit := schema["maxLength"]):
        errors.append(error("maxLength", {"limit": limit}, f"must NOT have more than {limit} characters"))
    if "pattern" in schema and not js_regex(pattern := schema["pattern"]).search(value):
        errors.append(error("pattern", {"pattern": pattern}, f'must match pattern "{pattern}"'))
    return errors


# ---------------------------------------------------------------------------------------------
# Providers
# ---------------------------------------------------------------------------------------------


class Provider:
    """One provider: its routes (relative to its prefix), its state and its own 404 shape."""

    name = ""
    prefix = ""

    def __init__(self, sandbox: ProviderSandbox) -> None:
        self.sandbox = sandbox
        self.lock = sandbox.lock

    def routes(self) -> dict[tuple[str, str], tuple[str, Handler]]:
        raise NotImplementedError

    def not_found(self, request: Request) -> Reply:
        raise NotImplementedError

    def reset(self) -> None:
        self.forget_tokens()

    def forget_tokens(self) -> None:
        pass

    def relative(self, request: Request) -> str:
        return request.path[len(self.prefix) :] or "/"

    @staticmethod
    def magic(table: Mapping[str, Effect], key: Any) -> Reply | None:
        """Run the effect bound to a magic input; None means 'carry on normally'."""
        effect = table.get(key) if isinstance(key, str) else None
        return effect() if effect else None


# --- Cladfy ----------------------------------------------------------------------------------

KRA_PIN = re.compile(r"^[AP][0-9]{9}[A-Z]$")


class Cladfy(Provider):
    name, prefix = "cladfy", "/cladfy/api/v1"

    def __init__(self, sandbox: ProviderSandbox, credentials: dict) -> None:
        super().__init__(sandbox)
        self._basic = f"{credentials['clientId']}:{credentials['secretKey']}"
        self.magic_pins: dict[str, Effect] = {
            "A000000404Z": self._not_found_pin,
            "A000000200Z": self._generic_failure,
            "A000001003Z": lambda: self._error(400, "Validation failure", 1003),
            "A000001005Z": lambda: self._error(429, "Rate limit exceeded", 1005),
            "A000001200Z": lambda: self._error(401, "Authentication failed", 1200),
            "A000000502Z": lambda: html_reply(502),
            "A000000206Z": lambda: truncated_json_reply(self._details("A000000206Z")),
            "A000000504Z": sandbox.pause,
            "A000000500Z": lambda: self._error(500, "Internal Server Error", None, http_status=500),
        }

    def routes(self):
        return {("POST", "/krapin"): ("krapin", self.krapin)}

    def not_found(self, request):
        return self._error(404, "Endpoint does not exist", 1101, http_status=404)

    # Cladfy's error body; its business errors come back as HTTP 200.
    @staticmethod
    def _error(status: int, message: str, code: int | None, http_status: int = 200) -> Reply:
        return json_reply(http_status, {"status": status, "message": message, "code": code, "response": None})

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.header("Authorization").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except ValueError:
            return False
        return hmac.compare_digest(decoded.encode(), self._basic.encode())

    def krapin(self, request: Request) -> Reply:
        if not self._authorized(request):
            return self._error(401, "Unauthorized", 1204, http_status=401)
        try:
            body = request.json()
        except ValueError:
            return self._error(400, "Bad JSON", 1002, http_status=400)
        pin = body.get("pinnumber") if isinstance(body, dict) else None
        if pin is None or pin == "":
            return self._error(400, "Required parameter missing: pinnumber", 1103, http_status=400)
        if not isinstance(pin, str) or not KRA_PIN.match(pin.strip().upper()):
            return self._error(400, "Validation failure", 1003)
        pin = pin.strip().upper()
        return self.magic(self.magic_pins, pin) or json_reply(200, self._details(pin))

    @staticmethod
    def _details(pin: str) -> dict:
        individual = pin.startswith("A")
        name = "JANE SANDBOX TAXPAYER" if individual else "SANDBOX TRADERS LIMITED"
        return {
            "success": True,
            "response_code": 200,
            "message": "KRA Pin Details Fetched Successfully",
            "data": {
                "Business_Certificate_Id": "" if individual else stable_digits(pin, 9),
                "Email_Addresses": f"sandbox.{pin.lower()}@example.com",
                "Locality": "NAIROBI WEST",
                "PINNo": pin,
                "Partnership": "N",
                "Paye": "N" if individual else "Y",
                "Station": "NAIROBI SOUTH",
                "TaxpayerName": name,
                "Tot": "N",
                "Trading_Business_Name": "" if individual else name,
                "Vat": "N" if individual else "Y",
            },
            "request_id": random_alnum(35),
            **EXTRA_FIELD,
        }

    @staticmethod
    def _failure_body(response_code: int, message: str) -> Reply:
        return json_reply(
            200,
            {
                "success": False,
                "response_code": response_code,
                "message": message,
                "data": None,
                "request_id": random_alnum(35),
            },
        )

    def _not_found_pin(self) -> Reply:
        return self._failure_body(404, "KRA PIN not found")

    def _generic_failure(self) -> Reply:
        return self._failure_body(200, "KRA Pin Details could not be fetched")


# --- Signzy EzKRA ----------------------------------------------------------------------------

OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
SIGNZY_BAD_OBJECT_ID = "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"
SIGNZY_REAUTH_ID = "000000000000000000000401"


class Signzy(Provider):
    name, prefix = "signzy", "/signzy"

    def __init__(self, sandbox: ProviderSandbox, credentials: dict, token_ttl: int, auth_header: str) -> None:
        super().__init__(sandbox)
        if auth_header not in ("raw", "bearer"):
            raise ValueError("signzy_auth_header must be raw or bearer")
        self._username, self._password = credentials["username"], credentials["password"]
        self._ttl = token_ttl
        self.auth_header = auth_header
        self.tokens = TokenStore(self.lock)
        self._bounce_next = True  # the re-auth magic id alternates: 401 (token forgotten), then success
        self.magic_ids: dict[str, Effect] = {
            "000000000000000000000404": lambda: self._error(404, 'Unknown "onboarding" id.', code="MODEL_NOT_FOUND"),
            "000000000000000000000500": lambda: self._error(500, "Internal Server Error"),
            "000000000000000000000502": lambda: html_reply(502),
            "000000000000000000000504": sandbox.pause,
            "000000000000000000000422": lambda: self._error(
                422, "Onboarding is not in a state that can be repushed", code="REPUSH_NOT_ALLOWED"
            ),
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
        onboarding_id = body.get("onboardingId") if isinstance(body, dict) else None
        if not isinstance(onboarding_id, str) or not OBJECT_ID.match(onboarding_id):
            return self._error(500, SIGNZY_BAD_OBJECT_ID)
        if onboarding_id == SIGNZY_REAUTH_ID and self._bounce(token):
            return self._error(401, "Authorization Required", code="AUTHORIZATION_REQUIRED")
        return self.magic(self.magic_ids, onboarding_id) or json_reply(
            200,
            {
                "onboardingId": onboarding_id,
                "customerId": session["user_id"],
                "callbackUrl": "",
                "message": "The application is in progress, and it has been repushed to KRA",
                **EXTRA_FIELD,
            },
        )

    def _bounce(self, token: str) -> bool:
        """Alternate: forget the caller's token and refuse, then let the retry through."""
        with self.lock:
            bounce, self._bounce_next = self._bounce_next, not self._bounce_next
        if bounce:
            self.tokens.revoke(token)
        return bounce


# --- CDP (Digit9 DRAP, Keycloak in front) ----------------------------------------------------

CDP_PASSWORD_FIELDS = ("scope", "client_id", "client_secret", "username", "password")
CDP_REFRESH_FIELDS = ("refresh_token", "client_id", "client_secret")
_CDP_DOCUMENTS = (
    "id_details[].id_front",
    "id_details[].id_back",
    "additional_docs[]",
    "customer_classification.profile_photo",
)
# What CDP refuses an onboarding without (40002): the names of the fields, with [] for "each element of".
CDP_ONBOARDING_MANDATORY = (
    "first_name",
    "id_details",
    "id_details[].id_type",
    "id_details[].id_number",
    *(f"{document}.{part}" for document in _CDP_DOCUMENTS for part in ("base64_data", "content_type")),
)
# CDP's country master data: ISO 3166-1 alpha-2 and the user-assigned codes real documents carry (Kosovo's XK).
_CDP_COUNTRY_LIST = """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ
    FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
    TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"""
CDP_COUNTRIES = frozenset(_CDP_COUNTRY_LIST.split())
CDP_COUNTRY_FIELDS = (
    "nationality",
    "second_nationality",
    "country_of_birth",
    "country_of_residence",
    "address_list[].country",
    "id_details[].issued_country",
    "customer_classification.txn_issued_country",
)


def field_values(body: Any, path: str) -> list[tuple[str, Any, bool]]:
    """(location, value, present) of each place `path` names in `body` ("a[].b": b of every element of a), for
    every container on the way that is there: an absent optional object or list names no place."""
    places = [("", body)]
    for part in path.split("."):
        name, each = part.removesuffix("[]"), part.endswith("[]")
        found = []
        for location, container in places:
            where = f"{location}.{name}" if location else name
            if not isinstance(container, dict):
                if container is not None and not each:
                    found.append((where, None))  # a list item that is not an object lacks every field
                continue
            if not each:
                found.append((where, container.get(name)))
            elif isinstance(container.get(name), list):
                found += [(f"{where}[{index}]", item) for index, item in enumerate(container[name])]
        places = found
    return [(location, value, value is not None) for location, value in places]


def cdp_magic_id(code: int) -> str:
    """784 + zeros + the five-digit code: 784000000045001 (a 15-digit Emirates-ID-like number)."""
    return f"7840000000{code:05d}"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Cdp(Provider):
    name, prefix = "cdp", "/cdp"
    LOOKUP_PATH = "/caas/api/v2/customer/validate"
    ONBOARDING_PATH = "/caas-lcm/api/v1/CAAS/onBoarding/customer"

    def __init__(self, sandbox: ProviderSandbox, credentials: dict, token_ttl: int, refresh_ttl: int) -> None:
        super().__init__(sandbox)
        self._credentials = credentials
        self._token_ttl, self._refresh_ttl = token_ttl, refresh_ttl
        self.access_tokens = TokenStore(self.lock)
        self.refresh_tokens = TokenStore(self.lock)
        self._customers: dict[str, dict] = {}  # id number -> onboarded customer (names, ecrn)
        lookup_failure = self._lookup_failure
        self.magic_lookups: dict[str, Effect] = {
            cdp_magic_id(45001): lambda: lookup_failure(404, 45001, "Customer not found"),
            cdp_magic_id(45003): lambda: lookup_failure(404, 45003, "Customer not Subscribed"),
            cdp_magic_id(40001): lambda: lookup_failure(400, 40001, "Invalid format input"),
            cdp_magic_id(45006): lambda: lookup_failure(500, 45006, "Error while searching customer!"),
            cdp_magic_id(45013): lambda: lookup_failure(500, 45013, "Customer under Compliance investigation!"),
            cdp_magic_id(45051): lambda: lookup_failure(404, 45051, "Customer can not be Accepted"),
            cdp_magic_id(502): lambda: html_reply(502),
            cdp_magic_id(504): sandbox.pause,
        }

    def routes(self):
        return {
            ("POST", "/auth/realms/cdp/protocol/openid-connect/token"): ("token", self.token),
            ("POST", self.LOOKUP_PATH): ("lookup", self.lookup),
            ("POST", self.ONBOARDING_PATH): ("onboarding", self.onboarding),
        }

    def not_found(self, request):
        return self._spring_error(404, "Not Found", self._service_path(self.relative(request)))

    def forget_tokens(self):
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def reset(self):
        super().reset()
        with self.lock:
            self._customers.clear()

    # --- token endpoint (Keycloak conventions) ---

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Reply:
        return json_reply(status, {"error": error, "error_description": description})

    def token(self, request: Request) -> Reply:
        form = request.form()
        if any(len(values) > 1 for values in form.values()):
            return self._oauth_error(400, "invalid_request", "duplicated parameter")
        fields = {name: values[0] for name, values in form.items()}
        grant_type = fields.get("grant_type")
        if not grant_type:
            return self._oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
        grants = {
            "password": (CDP_PASSWORD_FIELDS, self._password_grant),
            "refresh_token": (CDP_REFRESH_FIELDS, self._refresh_grant),
        }
        if grant_type not in grants:
            return self._oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
        required, grant = grants[grant_type]
        missing = [name for name in required if not fields.get(name)]
        if missing:
            return self._oauth_error(400, "invalid_request", f"Missing form parameter: {missing[0]}")
        if not (
            self._matches(fields["client_id"], "clientId") and self._matches(fields["client_secret"], "clientSecret")
        ):
            return self._oauth_error(401, "unauthorized_client", "Invalid client or Invalid client credentials")
        return grant(fields)

    def _matches(self, value: str, key: str) -> bool:
        return hmac.compare_digest(value.encode(), str(self._credentials[key]).encode())

    def _password_grant(self, fields: dict[str, str]) -> Reply:
        if not (self._matches(fields["username"], "username") and self._matches(fields["password"], "password")):
            return self._oauth_error(401, "invalid_grant", "Invalid user credentials")
        if fields["scope"] != self._credentials.get("scope", fields["scope"]):
            return self._oauth_error(400, "invalid_scope", "Invalid scopes: requested scope is not allowed")
        return self._issue(fields["scope"], session_state=str(secrets.token_hex(16)))

    def _refresh_grant(self, fields: dict[str, str]) -> Reply:
        state, session = self.refresh_tokens.consume(fields["refresh_token"])
        if state == "unknown":
            return self._oauth_error(400, "invalid_grant", "Invalid refresh token")
        if state == "inactive":
            return self._oauth_error(400, "invalid_grant", "Token is not active")
        return self._issue(session["scope"], session["session_state"])

    def _issue(self, scope: str, session_state: str) -> Reply:
        access = self.access_tokens.issue(self._token_ttl, length=96)
        refresh = self.refresh_tokens.issue(self._refresh_ttl, length=96, scope=scope, session_state=session_state)
        return json_reply(
            200,
            {
                "token_type": "bearer",
                "access_token": access,
                "expires_in": self._token_ttl,
                "refresh_expires_in": self._refresh_ttl,
                "refresh_token": refresh,
                "scope": scope,
                "not-before-policy": 0,
                "session_state": session_state,
            },
        )

    # --- APIs ---

    @staticmethod
    def _service_path(path: str) -> str:
        """The path as the service behind the gateway sees it ('/caas/api/v2/x' -> '/api/v2/x')."""
        parts = path.split("/", 2)
        return "/" + parts[2] if len(parts) > 2 else path

    @staticmethod
    def _spring_error(status: int, error: str, path: str, **extra: Any) -> Reply:
        return json_reply(
            status, {"timestamp": iso_offset(utcnow()), "status": status, "error": error, **extra, "path": path}
        )

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.header("Authorization").partition(" ")
        return scheme.lower() == "bearer" and self.access_tokens.valid(token.strip()) is not None

    def _unauthorized(self, path: str, **extra: Any) -> Reply:
        return self._spring_error(401, "Unauthorized", self._service_path(path), **extra)

    @staticmethod
    def _lookup_failure(status_code: int, error_code: int, message: str) -> Reply:
        body = {"status": "failure", "statusCode": status_code, "errorCode": error_code, "message": message}
        return json_reply(200, body)

    def lookup(self, request: Request) -> Reply:
        if not self._authorized(request):
            return self._unauthorized(self.LOOKUP_PATH)
        try:
            body = request.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        id_number, id_type = body.get("idNumber"), body.get("idType")
        if not (
            isinstance(id_number, str)
            and 0 < len(id_number) <= 30
            and isinstance(id_type, str)
            and 0 < len(id_type) <= 3
        ):
            return self._lookup_failure(400, 40001, "Invalid format input")
        return self.magic(self.magic_lookups, id_number) or json_reply(
            200, {"status": "success", "statusCode": 200, "data": self._customer_view(id_number), **EXTRA_FIELD}
        )

    def _customer_view(self, id_number: str) -> dict:
        with self.lock:
            known = dict(self._customers.get(id_number, {}))
        return {
            "ecrn": known.get("ecrn") or self._ecrn(id_number),
            "first_name": known.get("first_name", "SANDBOX"),
            "middle_name": known.get("middle_name", ""),
            "last_name": known.get("last_name", "CUSTOMER"),
            "agent_location_id": "784101",
            "primary_mobile_number": known.get("primary_mobile_number", "+971500000000"),
            "email_id": known.get("email_id", "SANDBOX.CUSTOMER@EXAMPLE.COM"),
            "customer_status": "ACTIVE",
            "aml_scan_status": "Accepted",
            "id_status": "Active",
            "id_date_of_expiry": "2030-12-10T00:00:00.000+00:00",
        }

    @staticmethod
    def _ecrn(id_number: str) -> str:
        return "784" + stable_digits(id_number, 13)

    @staticmethod
    def _onboarding_error(
        http_status: int, status: str, status_code: int, error_code: int, message: str, **extra
    ) -> Reply:
        body = {
            "request_id": random_hex(32),
            "status": status,
            "status_code": status_code,
            "error_code": error_code,
            "message": message,
            **extra,
        }
        return json_reply(http_status, body)

    def _missing_fields(self, details: dict[str, str]) -> Reply:
        return self._onboarding_error(
            400, "failure", 400, 40002, "Invalid format or missing mandatory request", details=details
        )

    def _onboarding_magic(self, body: dict, id_number: str) -> dict[str, Effect]:
        ecrn = self._ecrn(id_number)
        error = self._onboarding_error
        return {
            cdp_magic_id(45013): lambda: error(
                406, "failed", 406, 45013, f"Customer {ecrn} Under Compliance Investigation"
            ),
            cdp_magic_id(45051): lambda: error(406, "failed", 406, 45051, f"Customer {ecrn} Cannot be Accepted"),
            cdp_magic_id(45053): lambda: error(
                400, "failed", 406, 45053, f" Invalid Nationality {body.get('nationality')}!"
            ),
            cdp_magic_id(40002): lambda: self._missing_fields({"firstName": "Invalid first name"}),
            cdp_magic_id(45032): lambda: error(404, "failed", 404, 45032, "Customer update failed"),
            cdp_magic_id(40001): lambda: error(502, "failed", 502, 40001, "Backend Technical Problem"),
            cdp_magic_id(502): lambda: html_reply(502),
            cdp_magic_id(504): self.sandbox.pause,
        }

    @staticmethod
    def _invalid_fields(body: dict) -> dict[str, str]:
        """Mandatory fields missing or blank, reported like the document's example: {"firstName": "Invalid first
        name"} (nested ones by their location, e.g. "idDetails[0].idNumber")."""
        invalid = {}
        for path in CDP_ONBOARDING_MANDATORY:
            for location, value, present in field_values(body, path):
                blank = isinstance(value, str) and not value.strip()
                empty_list = path == "id_details" and not (isinstance(value, list) and value)
                if not present or blank or empty_list:
                    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
                    invalid[".".join(camel(part) for part in location.split("."))] = "Invalid " + leaf.replace("_", " ")
        return invalid

    @staticmethod
    def _unknown_country(body: dict) -> tuple[str, Any] | None:
        """The first country field whose value is not in CDP's master data (CDP answers 45053)."""
        for path in CDP_COUNTRY_FIELDS:
            for _, value, present in field_values(body, path):
                if present and value not in CDP_COUNTRIES:
                    return path.rsplit(".", 1)[-1].replace("_", " ").title(), value
        return None

    def onboarding(self, request: Request) -> Reply:
        if not self._authorized(request):
            return self._unauthorized(self.ONBOARDING_PATH, message="")
        try:
            body = request.json()
        except ValueError:
            return self._missing_fields({"request": "Malformed JSON request"})
        if not isinstance(body, dict):
            return self._missing_fields({"request": "Malformed JSON request"})
        details = self._invalid_fields(body)
        if details:
            return self._missing_fields(details)
        id_number = body["id_details"][0]["id_number"]
        failure = self.magic(self._onboarding_magic(body, id_number), id_number)
        if failure:
            return failure
        unknown = self._unknown_country(body)
        if unknown:
            label, value = unknown
            return self._onboarding_error(400, "failed", 406, 45053, f" Invalid {label} {value}!")
        ecrn = self._ecrn(id_number)
        self._remember(body, ecrn)
        pep = body.get("political_exposed_person") is True
        return json_reply(
            200,
            {
                "status": "success",
                "data": {
                    "aml_scan_status": "Accepted",
                    "ecrn": ecrn,
                    "customer_status": "ACTIVE",
                    "pep": pep,
                    "aml_category": 2,
                },
                "status_code": 200,
                "request_id": random_hex(32),
                **EXTRA_FIELD,
            },
        )

    def _remember(self, body: dict, ecrn: str) -> None:
        record = {
            key: body[key]
            for key in ("first_name", "middle_name", "last_name", "primary_mobile_number", "email_id")
            if isinstance(body.get(key), str)
        }
        record["ecrn"] = ecrn
        with self.lock:
            for id_detail in body["id_details"]:
                if isinstance(id_detail, dict) and isinstance(id_detail.get("id_number"), str):
                    self._customers[id_detail["id_number"]] = record


# --- connectFi (akepa) -----------------------------------------------------------------------

COMMON_ID = {"type": "string", "pattern": "^[0-9a-zA-Z_]+$", "minLength": 1, "maxLength": 36}
COMMON_REFERENCE = {"type": "string", "pattern": "^[0-9a-zA-Z]+$", "minLength": 1, "maxLength": 32}
COMMON_STR500 = {"type": "string", "pattern": "^((?![<>]).)*$", "minLength": 0, "maxLength": 500, "nullable": True}
CONNECTFI_LOGIN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["user"],
    "properties": {
        "user": {
            "type": "object",
            "additionalProperties": False,
            "required": ["login", "password"],
            "properties": {"login": COMMON_ID, "password": {"type": "string", "minLength": 1, "maxLength": 50}},
        },
        "requestId": {"type": "string", "maxLength": 32},
    },
}
CONNECTFI_IDENTIFICATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reference", "customerId"],
    "properties": {
        "reference": COMMON_REFERENCE,
        "customerId": COMMON_ID,
        "syncMode": {"type": "boolean", "nullable": True},
        "webhookURL": COMMON_STR500,  # the schema table's spelling
        "webhookUrl": COMMON_STR500,  # the example body's spelling: both accepted
    },
}
CONNECTFI_STATUS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["customerId", "applicationId"],
    "properties": {"customerId": COMMON_ID, "applicationId": COMMON_ID},
}
# reference prefix -> (overall outcome, webhook deliveries); longest prefixes first
CONNECTFI_ASYNC_REFERENCES = (("ASYNCDUP", "Approved", 2), ("ASYNCDENY", "Denied", 1), ("ASYNC", "Approved", 1))


@dataclass
class _Application:
    data: dict
    webhook_url: str | None = None


class ConnectFi(Provider):
    name, prefix = "connectfi", "/connectfi"

    def __init__(self, sandbox: ProviderSandbox, credentials: dict, token_ttl: int) -> None:
        super().__init__(sandbox)
        self._login, self._password = credentials["login"], credentials["password"]
        self._ttl = token_ttl
        self.tokens = TokenStore(self.lock)
        self._applications: dict[str, _Application] = {}
        self.magic_customers: dict[str, Effect] = {
            "cstap_notfound": lambda: self._error(400, "customerNotFound", "Customer not found"),
            "cstap_html500": lambda: html_reply(500),
            "cstap_slow": sandbox.pause,
        }

    def routes(self):
        return {
            ("POST", "/auth/get-token"): ("token", self.get_token),
            ("POST", "/akepa/identification"): ("identification", self.identification),
            ("POST", "/akepa/status"): ("status", self.status),
        }

    def not_found(self, request):
        return self._error(404, "notFound", f"Cannot {request.method} {self.relative(request)}")

    def forget_tokens(self):
        self.tokens.clear()

    def reset(self):
        super().reset()
        with self.lock:
            self._applications.clear()

    @staticmethod
    def _error(status: int, code: str, message: str, sub_code: str = "", context: Any = None) -> Reply:
        return json_reply(
            status,
            {"requestId": random_hex(32), "code": code, "subCode": sub_code, "context": context, "message": message},
        )

    @staticmethod
    def _unauthorized() -> Reply:
        return json_reply(401, {"code": "unauthorized", "message": "Authentication error"})

    def _validated(self, request: Request, schema: dict) -> tuple[dict | None, Reply | None]:
        try:
            body = request.json()
        except ValueError:
            return None, self._error(400, "requestValidateError", "Invalid JSON body", context=[])
        errors = ajv_errors(schema, body)
        if errors:
            first = errors[0]
            return None, self._error(400, "requestValidateError", first["message"], first["keyword"], errors)
        return body, None

    def get_token(self, request: Request) -> Reply:
        body, failure = self._validated(request, CONNECTFI_LOGIN_SCHEMA)
        if failure:
            return failure
        user = body["user"]
        if not (
            hmac.compare_digest(user["login"].encode(), self._login.encode())
            and hmac.compare_digest(user["password"].encode(), self._password.encode())
        ):
            return self._unauthorized()
        token = self.tokens.issue(self._ttl)
        expires = utcnow() + timedelta(seconds=self._ttl)
        return json_reply(200, {"code": "0", "data": {"token": token, "dtsExpireAt": iso_z(expires)}})

    def _authorized(self, request: Request) -> bool:
        return self.tokens.valid(request.header("x-connectfi-token")) is not None

    def identification(self, request: Request) -> Reply:
        if not self._authorized(request):
            return self._unauthorized()
        body, failure = self._validated(request, CONNECTFI_IDENTIFICATION_SCHEMA)
        if failure:
            return failure
        customer_id, reference = body["customerId"], body["reference"]
        failure = self.magic(self.magic_customers, customer_id)
        if failure:
            return failure
        asynchronous = next((rule for rule in CONNECTFI_ASYNC_REFERENCES if reference.startswith(rule[0])), None)
        status = "waiting_review" if asynchronous else "pending_step_up"
        application = self._new_application(customer_id, reference, status)
        application.webhook_url = body.get("webhookUrl") or body.get("webhookURL") or None
        app_id = application.data["applicationId"]
        with self.lock:
            self._applications[app_id] = application
        if asynchronous:
            _, outcome, deliveries = asynchronous
            self.sandbox.schedule(self.sandbox.webhook_delay, lambda: self._complete(app_id, outcome, deliveries))
        return json_reply(200, self._envelope(application))

    @staticmethod
    def _new_application(customer_id: str, reference: str, status: str) -> _Application:
        entities = [{"entityId": customer_id, "isCustomer": True, "status": status, "outcome": None}]
        if customer_id.startswith("cstab_"):  # a business: its related person is a second entity
            related = {"entityId": "cstab_" + random_alnum(22), "isCustomer": False, "status": status, "outcome": None}
            entities = [related, {**entities[0], "status": "completed", "outcome": "approved"}]
        data = {
            "applicationId": "iapp_" + random_alnum(22),
            "aggregatorId": "SANDBOX",
            "customerId": customer_id,
            "reference": reference,
            "status": status,
            "outcome": None,
            "entityApplications": entities,
        }
        return _Application(data)

    def _envelope(self, application: _Application) -> dict:
        with self.lock:
            data = copy.deepcopy(application.data)
        return {"code": "0", "data": data, "requestId": random_hex(32)}

    def _complete(self, app_id: str, outcome: str, deliveries: int) -> None:
        """The asynchronous manual review finishes: completed + outcome, then the webhook."""
        with self.lock:
            application = self._applications.get(app_id)
            if application is None:
                return
            application.data.update(status="completed", outcome=outcome)
            for entity in application.data["entityApplications"]:
                entity.update(status="completed", outcome=outcome.lower())
        if application.webhook_url:
            envelope = self._envelope(application)
            for _ in range(deliveries):  # identical body each time (duplicate delivery)
                self.sandbox.post_webhook(self.name, application.webhook_url, envelope)

    def status(self, request: Request) -> Reply:
        if not self._authorized(request):
            return self._unauthorized()
        body, failure = self._validated(request, CONNECTFI_STATUS_SCHEMA)
        if failure:
            return failure
        with self.lock:
            application = self._applications.get(body["applicationId"])
        if application is None or application.data["customerId"] != body["customerId"]:
            return self._error(404, "applicationNotFound", "Application not found")
        return json_reply(200, self._envelope(application))


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server_version = "ProviderSandbox/1.0"
    timeout = 60  # idle keep-alive connections are dropped after this

    def _handle(self) -> None:
        sandbox: ProviderSandbox = self.server.sandbox  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(json_reply(400, {"error": "unreadable request body"}))
            return
        self._send(sandbox.dispatch(Request(self.command, path, self.headers, body)))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        if reply.reset:
            # SO_LINGER 0: close() sends a TCP RST, as a crashing provider or a load balancer cutting us off would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if reply.cut:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timed out on a slow answer)
            self.close_connection = True

    def _log(self, outcome: str) -> None:
        """Method, path (no query string) and outcome only: never bodies, headers or tokens."""
        if not self.server.sandbox.quiet:  # type: ignore[attr-defined]
            path = urlsplit(getattr(self, "path", "") or "-").path
            log(f"{getattr(self, 'command', None) or '-'} {path} {outcome}")

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        self._log(str(int(code)) if isinstance(code, int) else str(code))

    def log_error(self, format: str, *args: Any) -> None:
        self._log("protocol error")


class ProviderSandbox:
    """Stand-in for the four providers on one local port. See the README ("Provider sandbox")."""

    def __init__(
        self,
        credentials: dict,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        slow_seconds: float = 30.0,
        cdp_token_ttl: int = 7199,
        cdp_refresh_ttl: int = 7199,
        connectfi_token_ttl: int = 3600,
        signzy_token_ttl: int = 1209600,
        signzy_auth_header: str = "raw",
        webhook_delay: float = 1.0,
        quiet: bool = False,
    ) -> None:
        missing = [name for name in ("cladfy", "signzy", "cdp", "connectfi") if name not in credentials]
        if missing:
            raise ValueError(f"credentials lack provider sections: {', '.join(missing)}")
        self.host, self.port = host, port
        self.slow_seconds = slow_seconds
        self.webhook_delay = webhook_delay
        self.quiet = quiet
        self.lock = threading.RLock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.providers: list[Provider] = [
            ConnectFi(self, credentials["connectfi"], connectfi_token_ttl),
            Signzy(self, credentials["signzy"], signzy_token_ttl, signzy_auth_header),
            Cladfy(self, credentials["cladfy"]),
            Cdp(self, credentials["cdp"], cdp_token_ttl, cdp_refresh_ttl),
        ]
        self._routes: dict[tuple[str, str], tuple[Provider | None, str, Handler]] = {
            ("GET", "/_sandbox/health"): (None, "health", lambda _: json_reply(200, {"status": "ok"})),
            ("GET", "/_sandbox/calls"): (None, "calls", lambda _: json_reply(200, self.calls_by_provider())),
            ("POST", "/_sandbox/forget-tokens"): (None, "forget-tokens", self._admin(self.forget_tokens, "forgotten")),
            ("POST", "/_sandbox/reset"): (None, "reset", self._admin(self.reset, "reset")),
            ("POST", "/_sandbox/faults"): (None, "faults", self._add_fault),
        }
        self._faults: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for provider in self.providers:
            for (method, path), (operation, handler) in provider.routes().items():
                self._routes[(method, provider.prefix + path)] = (provider, operation, handler)

    # --- lifecycle ---

    def start(self) -> ProviderSandbox:
        self._stopping.clear()
        self._server = ThreadingHTTPServer((self.host, self.port), _RequestHandler)
        self._server.daemon_threads = True
        self._server.sandbox = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="provider-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self._cancel_timers()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ProviderSandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def base_urls(self) -> dict[str, str]:
        return {
            "CONNECTFI_BASE_URL": self.url + ConnectFi.prefix,
            "SIGNZY_BASE_URL": self.url + Signzy.prefix,
            "CLADFY_BASE_URL": self.url + Cladfy.prefix,
            "CDP_BASE_URL": self.url + Cdp.prefix,
        }

    # --- state ---

    @property
    def calls(self) -> dict[tuple[str, str], int]:
        with self.lock:
            return dict(self._calls)

    def call_count(self, provider: str, operation: str) -> int:
        with self.lock:
            return self._calls[(provider, operation)]

    def calls_by_provider(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {provider.name: {} for provider in self.providers}
        for (provider, operation), count in sorted(self.calls.items()):
            result.setdefault(provider, {})[operation] = count
        return result

    def count(self, provider: str, operation: str) -> None:
        with self.lock:
            self._calls[(provider, operation)] += 1

    def forget_tokens(self) -> None:
        for provider in self.providers:
            provider.forget_tokens()

    def reset(self) -> None:
        self._cancel_timers()
        with self.lock:
            self._calls.clear()
            self._faults.clear()
        for provider in self.providers:
            provider.reset()

    # --- helpers used by providers ---

    def pause(self) -> None:
        """A slow provider: wait slow_seconds (cut short by stop()), then answer normally."""
        self._stopping.wait(self.slow_seconds)

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        def run() -> None:
            with self.lock:
                self._timers.discard(timer)
            if not self._stopping.is_set():
                action()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self.lock:
            self._timers.add(timer)
        timer.start()

    def _cancel_timers(self) -> None:
        with self.lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def post_webhook(self, provider: str, url: str, payload: dict) -> None:
        """One outgoing webhook delivery; failures are logged (without the URL: it carries a secret) and ignored."""
        self.count(provider, "webhook")
        if urlsplit(url).scheme not in ("http", "https"):
            log(f"{provider} webhook not sent (not an http(s) URL)")
            return
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with WEBHOOK_OPENER.open(request, timeout=5) as response:
                response.read()
        except Exception as exc:  # noqa: BLE001 - any delivery failure is logged and ignored, as documented
            log(f"{provider} webhook delivery failed ({type(exc).__name__})")

    # --- dispatch ---

    @staticmethod
    def _admin(action: Callable[[], None], key: str) -> Handler:
        def handler(_: Request) -> Reply:
            action()
            return json_reply(200, {key: True})

        return handler

    def dispatch(self, request: Request) -> Reply:
        route = self._routes.get((request.method, request.path))
        if route is None:
            return self._not_found(request)
        provider, operation, handler = route
        if provider is not None:
            self.count(provider.name, operation)
            fault = self._next_fault(provider.name, operation)
            if fault is not None:
                return fault
        try:
            return handler(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must answer 500, not kill the connection
            frames = traceback.extract_tb(exc.__traceback__)
            where = ", ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[-3:])
            log(f"internal error {type(exc).__name__} at {where}")
            return json_reply(500, {"error": "sandbox internal error", "type": type(exc).__name__})

    # --- fault injection ---

    FAULTS = ("reset", "cut", "slow", "status", "html", "truncated", "rate_limit")

    def inject_fault(self, provider: str, operation: str, fault: str, times: int = 1, **options: Any) -> None:
        """The next `times` calls of `provider`'s `operation` meet `fault` instead of their normal answer."""
        if fault not in self.FAULTS:
            raise ValueError(f"fault must be one of {', '.join(self.FAULTS)}")
        with self.lock:
            self._faults.setdefault((provider, operation), []).extend([{"fault": fault, **options}] * times)

    def _add_fault(self, request: Request) -> Reply:
        try:
            spec = request.json()
            self.inject_fault(
                spec.pop("provider"), spec.pop("operation"), spec.pop("fault"), int(spec.pop("times", 1)), **spec
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return json_reply(400, {"error": f"bad fault: {error}"})
        return json_reply(200, {"injected": True})

    def _next_fault(self, provider: str, operation: str) -> Reply | None:
        with self.lock:
            queue = self._faults.get((provider, operation))
            spec = queue.pop(0) if queue else None
        if spec is None:
            return None
        fault = spec["fault"]
        if fault == "reset":
            return Reply(0, b"", reset=True)
        if fault == "cut":
            return Reply(200, json.dumps({"injected": "an answer cut off", "padding": "x" * 40}).encode(), cut=True)
        if fault == "slow":
            self._stopping.wait(float(spec.get("seconds", self.slow_seconds)))
            return json_reply(503, {"error": "slow answer (injected fault)"})
        if fault == "html":
            return html_reply(int(spec.get("status", 502)))
        if fault == "truncated":
            return truncated_json_reply({"injected": "truncated answer", "padding": "x" * 40})
        if fault == "rate_limit":
            retry_after = str(spec.get("retryAfter", 1))
            return Reply(429, b'{"error": "too many requests"}', headers=(("Retry-After", retry_after),))
        return json_reply(int(spec.get("status", 503)), {"error": "injected server error"})

    def _not_found(self, request: Request) -> Reply:
        for provider in self.providers:
            if request.path == provider.prefix or request.path.startswith(provider.prefix + "/"):
                return provider.not_found(request)
        return json_reply(404, {"error": "not found", "path": request.path})


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local sandbox for the connectFi, Signzy, Cladfy and CDP APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})")
    parser.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, help="JSON with cladfy/signzy/cdp/connectfi")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="how long the 'slow' magic inputs hang")
    parser.add_argument("--cdp-token-ttl", type=int, default=7199, help="CDP access token lifetime (s)")
    parser.add_argument("--cdp-refresh-ttl", type=int, default=7199, help="CDP refresh token lifetime (s)")
    parser.add_argument("--connectfi-token-ttl", type=int, default=3600, help="connectFi token lifetime (s)")
    parser.add_argument("--signzy-token-ttl", type=int, default=1209600, help="Signzy login token ttl (s)")
    parser.add_argument(
        "--signzy-auth-header", choices=("raw", "bearer"), default="raw", help="the one Authorization form accepted"
    )
    parser.add_argument("--webhook-delay", type=float, default=1.0, help="connectFi ASYNC review delay (s)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    credentials = json.loads(args.secrets.read_text(encoding="utf-8"))
    sandbox = ProviderSandbox(
        credentials,
        args.host,
        args.port,
        slow_seconds=args.slow_seconds,
        cdp_token_ttl=args.cdp_token_ttl,
        cdp_refresh_ttl=args.cdp_refresh_ttl,
        connectfi_token_ttl=args.connectfi_token_ttl,
        signzy_token_ttl=args.signzy_token_ttl,
        signzy_auth_header=args.signzy_auth_header,
        webhook_delay=args.webhook_delay,
        quiet=args.quiet,
    ).start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"provider sandbox ready at {sandbox.url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
