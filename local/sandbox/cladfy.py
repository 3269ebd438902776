"""Cladfy KRA PIN lookup: HTTP Basic auth, business errors as HTTP 200, magic PINs for each documented failure."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping
from typing import Any

from local.sandbox.common import (
    EXTRA_FIELD,
    Effect,
    Provider,
    Reply,
    Request,
    SandboxServices,
    html_reply,
    json_reply,
    random_alnum,
    stable_digits,
    truncated_json_reply,
)

KRA_PIN = re.compile(r"^[AP][0-9]{9}[A-Z]$")


# The fake secrets the local stack gives the gateway to reach this provider, by secret name (its sections of
# local/secrets.local.json, generated from this): never real values.
LOCAL_SECRETS = {"cladfy": {"clientId": "local-cladfy-client", "secretKey": "local-cladfy-secret-not-real"}}


class Cladfy(Provider):
    name, prefix = "cladfy", "/cladfy/api/v1"

    def __init__(self, sandbox: SandboxServices, credentials: dict, options: Mapping[str, Any]) -> None:
        super().__init__(sandbox, credentials, options)
        self._basic = f"{credentials['clientId']}:{credentials['secretKey']}"
        self.magic_pins: dict[str, Effect] = {
            "A000000404Z": self._not_found_pin,
            "A000000200Z": self._generic_failure,
            "A000000503Z": lambda: self._failure_body(404, "No data received from KRA, try again later"),
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
        if not isinstance(pin, str) or not KRA_PIN.fullmatch(pin):  # as sent: a gateway normalises it first
            return self._error(400, "Validation failure", 1003)
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


PROVIDER = Cladfy
