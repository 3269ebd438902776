"""CDP (Digit9 DRAP, Keycloak in front): OAuth tokens, customer lookup and onboarding, with CDP's own rules
(the first name, the nationality against its master data) and magic id numbers for each documented failure."""

from __future__ import annotations

import hmac
import secrets
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
    iso_offset,
    json_reply,
    random_hex,
    stable_digits,
    utcnow,
)

CDP_PASSWORD_FIELDS = ("scope", "client_id", "client_secret", "username", "password")
CDP_REFRESH_FIELDS = ("refresh_token", "client_id", "client_secret")
# CDP's country master data: ISO 3166-1 alpha-2 and the user-assigned codes real documents carry (Kosovo's XK).
_CDP_COUNTRY_LIST = """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ
    FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
    TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"""
CDP_COUNTRIES = frozenset(_CDP_COUNTRY_LIST.split())


def id_numbers(body: dict) -> list[str]:
    """The id numbers of the onboarding's identity documents, where CDP's example puts them
    (`id_details[].id_number`); any other shape names none (CDP's own types are not published)."""
    details = body.get("id_details")
    if not isinstance(details, list):
        return []
    return [item["id_number"] for item in details if isinstance(item, dict) and isinstance(item.get("id_number"), str)]


def cdp_magic_id(code: int) -> str:
    """784 + zeros + the five-digit code: 784000000045001 (a 15-digit Emirates-ID-like number)."""
    return f"7840000000{code:05d}"


# The fake secrets the local stack gives the gateway to reach this provider, by secret name (its sections of
# local/secrets.local.json, generated from this): never real values.
LOCAL_SECRETS = {
    "cdp": {
        "clientId": "local-cdp-client",
        "clientSecret": "local-cdp-client-secret-not-real",
        "username": "local-cdp-admin",
        "password": "local-cdp-password-not-real",
        "scope": "api://local-sandbox/customer",
    }
}


class Cdp(Provider):
    name, prefix = "cdp", "/cdp"
    options = (
        Option("cdp_token_ttl", int, 7199, "CDP access token lifetime (expires_in), seconds"),
        Option("cdp_refresh_ttl", int, 7199, "CDP refresh token lifetime (refresh_expires_in), seconds"),
    )
    LOOKUP_PATH = "/caas/api/v2/customer/validate"
    ONBOARDING_PATH = "/caas-lcm/api/v1/CAAS/onBoarding/customer"

    def __init__(self, sandbox: SandboxServices, credentials: dict, options: Mapping[str, Any]) -> None:
        super().__init__(sandbox, credentials, options)
        self._credentials = credentials
        self._token_ttl, self._refresh_ttl = options["cdp_token_ttl"], options["cdp_refresh_ttl"]
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

    def _onboarding_magic(self, body: dict, ecrn: str) -> dict[str, Effect]:
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

    def onboarding(self, request: Request) -> Reply:
        """Only what CDP's document shows it checking: the first name (its 40002 example) and the nationality
        against its master data (its 45053 example). Other fields, of any type, and fields its example lacks are
        taken, as Spring's JSON reader takes them."""
        if not self._authorized(request):
            return self._unauthorized(self.ONBOARDING_PATH, message="")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._missing_fields({"request": "Malformed JSON request"})
        first_name = body.get("first_name")
        if not (isinstance(first_name, str) and first_name.strip()):
            return self._missing_fields({"firstName": "Invalid first name"})
        numbers = id_numbers(body)
        # A customer is known by its id numbers; without one, each onboarding is a new customer.
        ecrn = self._ecrn(numbers[0] if numbers else random_hex(32))
        failure = self.magic(self._onboarding_magic(body, ecrn), numbers[0]) if numbers else None
        if failure:
            return failure
        nationality = body.get("nationality")
        if nationality is not None and not (isinstance(nationality, str) and nationality in CDP_COUNTRIES):
            return self._onboarding_error(400, "failed", 406, 45053, f" Invalid Nationality {nationality}!")
        self._remember(body, numbers, ecrn)
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

    def _remember(self, body: dict, numbers: list[str], ecrn: str) -> None:
        record = {
            key: body[key]
            for key in ("first_name", "middle_name", "last_name", "primary_mobile_number", "email_id")
            if isinstance(body.get(key), str)
        }
        record["ecrn"] = ecrn
        with self.lock:
            for number in numbers:
                self._customers[number] = record


PROVIDER = Cdp
