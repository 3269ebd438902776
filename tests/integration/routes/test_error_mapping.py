"""Every provider's error mapping, table-driven (docs/errors.md holds the same tables in prose).

Only a documented signal maps to a caller-facing status: a provider code, the provider's own error shape naming the
caller's subject, or an HTTP status that means the same everywhere (429, 401/403). Anything else, a framework's
bare 404 for a route miss included, is the provider (or our configuration of it) failing: 502.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.integration.routes import test_cdp as cdp
from tests.integration.routes import test_cladfy_krapin as cladfy
from tests.integration.routes import test_connectfi as connectfi
from tests.integration.routes import test_signzy_repush as signzy
from tests.support.fake_provider import Reply


def answer(status: int, body: dict | str, content_type: str = "application/json") -> Reply:
    text = body if isinstance(body, str) else json.dumps(body)
    return Reply(status, text.encode(), content_type)


HTML_404 = answer(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")
SPRING_404 = {"timestamp": "2026-11-22T10:00:00.000+00:00", "status": 404, "error": "Not Found", "path": "/api/x"}


@dataclass(frozen=True)
class Route:
    function: str
    path: str
    body: dict
    login: tuple[str, dict] | None  # the token endpoint and its answer, for providers with tokens


ROUTES = {
    "cladfy": Route(cladfy.FUNCTION, cladfy.KRAPIN, {"pinnumber": cladfy.PIN}, None),
    "signzy": Route(
        signzy.FUNCTION, signzy.REPUSH, {"onboardingId": signzy.ONBOARDING_ID}, (signzy.LOGIN, signzy.login_reply("t"))
    ),
    "cdp.lookup": Route(cdp.LOOKUP_FN, cdp.LOOKUP, cdp.LOOKUP_BODY, (cdp.TOKEN, cdp.token_reply(1))),
    "cdp.onboarding": Route(cdp.ONBOARD_FN, cdp.ONBOARD, cdp.ONBOARDING_BODY, (cdp.TOKEN, cdp.token_reply(1))),
    "connectfi.identification": Route(
        connectfi.IDENTIFY_FN, connectfi.IDENTIFY, connectfi.IDENTIFICATION, (connectfi.LOGIN, connectfi.login_reply())
    ),
    "connectfi.status": Route(
        connectfi.STATUS_FN,
        connectfi.STATUS,
        {"customerId": connectfi.CUSTOMER, "applicationId": connectfi.APPLICATION},
        (connectfi.LOGIN, connectfi.login_reply()),
    ),
}


def cladfy_error(status: int, message: str, code: int | None) -> dict:
    return {"status": status, "message": message, "code": code, "response": None}


def loopback(status: int, message: str, code: str | None = None, name: str = "Error") -> dict:
    error = {"statusCode": status, "name": name, "message": message}
    return {"error": error | ({"code": code} if code else {})}


def cfi(code: str, message: str = "error") -> dict:
    return {"requestId": "req-7", "code": code, "subCode": "", "context": None, "message": message}


def cdp_lookup(status_code: int, error_code: int, message: str) -> dict:
    return {"status": "failure", "statusCode": status_code, "errorCode": error_code, "message": message}


def cdp_onboarding(status_code: int, error_code: int, message: str) -> dict:
    return {
        "request_id": "req-9",
        "status": "failed",
        "status_code": status_code,
        "error_code": error_code,
        "message": message,
    }


# Where each provider documents the signal a row maps; None: undocumented, which is the provider failing (502).
CLADFY_SHAPES = "Cladfy's result and error shapes (status, response_code) with a 404: its own word for not found"
CLADFY_CODES = "Cladfy's published error codes (1002, 1003, 1005, 1101, 1103, 1200, 1204) and its 401"
SIGNZY_REPUSH_PAGE = "the repush page's one error: 500 for an id that is not an ObjectId"
CDP_DOCUMENT = "CDP's partner onboarding document: the lookup's and the onboarding's failure codes"
CONNECTFI_ERRORS = "connectFi's public KYC/KYB error list"
HTTP_429 = "HTTP: 429 is a rate limit, whoever answers it"

# (route, provider's answer, gateway status, gateway code, providerCode, where the provider documents it)
TABLE = [
    # --- Cladfy: body codes, mostly with HTTP 200 ---
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 404, "message": "KRA PIN not found"}),
        404,
        "kra_pin_not_found",
        None,
        CLADFY_SHAPES,
    ),
    (
        "cladfy",
        answer(200, cladfy_error(404, "KRA PIN not found", None)),
        404,
        "kra_pin_not_found",
        None,
        CLADFY_SHAPES,
    ),
    (
        "cladfy",
        answer(200, {"success": False, "message": "PIN does not exist", "data": None}),
        404,
        "kra_pin_not_found",
        None,
        CLADFY_SHAPES,
    ),
    (
        "cladfy",
        answer(200, cladfy_error(400, "Validation failure", 1003)),
        422,
        "provider_rejected",
        "1003",
        CLADFY_CODES,
    ),
    ("cladfy", answer(200, cladfy_error(429, "Rate limit exceeded", 1005)), 429, "rate_limited", "1005", CLADFY_CODES),
    ("cladfy", answer(200, cladfy_error(200, "Rate limit exceeded", 1005)), 429, "rate_limited", "1005", CLADFY_CODES),
    ("cladfy", answer(400, cladfy_error(400, "Rate limit exceeded", 1005)), 429, "rate_limited", "1005", CLADFY_CODES),
    ("cladfy", answer(200, cladfy_error(400, "Bad JSON", 1002)), 502, "provider_error", "1002", CLADFY_CODES),
    (
        "cladfy",
        answer(404, cladfy_error(404, "Endpoint does not exist", 1101)),
        502,
        "provider_error",
        "1101",
        CLADFY_CODES,
    ),
    (
        "cladfy",
        answer(200, cladfy_error(400, "Required parameter missing", 1103)),
        502,
        "provider_error",
        "1103",
        CLADFY_CODES,
    ),
    (
        "cladfy",
        answer(200, cladfy_error(401, "Authentication failed", 1200)),
        502,
        "provider_auth_failed",
        "1200",
        CLADFY_CODES,
    ),
    ("cladfy", answer(401, cladfy_error(401, "Unauthorized", None)), 502, "provider_auth_failed", None, CLADFY_CODES),
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 500, "message": "Upstream KRA error"}),
        502,
        "provider_error",
        None,
        None,
    ),
    ("cladfy", answer(200, cladfy_error(400, "Bad request", None)), 502, "provider_error", None, None),
    # an error shape saying "not found" with another status than 404 is not the PIN missing
    ("cladfy", answer(200, cladfy_error(400, "KRA PIN not found", None)), 502, "provider_error", None, None),
    # "not found" about the address (a route miss without its code), or under another status, is not the PIN's
    ("cladfy", answer(404, cladfy_error(404, "Endpoint does not exist", None)), 502, "provider_error", None, None),
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 404, "message": "Endpoint not found"}),
        502,
        "provider_error",
        None,
        None,
    ),
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 503, "message": "No response from KRA iTax, no data found"}),
        502,
        "provider_error",
        None,
        None,
    ),
    # a success without its data is no success
    ("cladfy", answer(200, {**cladfy.SUCCESS, "data": None}), 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, {**cladfy.SUCCESS, "success": "true"}), 502, "provider_error", None, None),
    # undocumented: a framework's 404 for a route miss, an HTML page, a body of no Cladfy shape
    ("cladfy", answer(404, {"detail": "Not Found"}), 502, "provider_error", None, None),
    ("cladfy", answer(404, SPRING_404), 502, "provider_error", None, None),
    # nor a body with part of Cladfy's error shape (status, code and response)
    ("cladfy", answer(200, {"status": 404, "message": "not found", "code": None}), 502, "provider_error", None, None),
    ("cladfy", answer(200, {"status": 404, "message": "gone", "response": None}), 502, "provider_error", None, None),
    ("cladfy", answer(404, {"message": "gone", "code": None, "response": None}), 502, "provider_error", None, None),
    ("cladfy", HTML_404, 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, {"result": "unexpected"}), 502, "provider_error", None, None),
    # --- Signzy EzKRA: LoopBack's error envelope; the repush page documents one error, the 500 below ---
    # undocumented, though LoopBack's own: a not-found, a model's ValidationError, an access rule's 403
    (
        "signzy",
        answer(422, loopback(422, "The `onboarding` instance is not valid.", name="ValidationError")),
        502,
        "provider_error",
        "ValidationError",
        None,
    ),
    (
        "signzy",
        answer(422, loopback(422, "Onboarding is not in a state that can be repushed", "REPUSH_NOT_ALLOWED")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    (
        "signzy",
        answer(403, loopback(403, "Access denied", "ACCESS_DENIED")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    (
        "signzy",
        answer(404, loopback(404, 'Unknown "onboarding" id "65a1".', "MODEL_NOT_FOUND")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    (
        "signzy",
        answer(404, loopback(404, "Onboarding not found")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    ("signzy", answer(400, loopback(400, "Bad onboarding")), 502, "provider_error", "Error", None),
    ("signzy", answer(429, loopback(429, "Too many requests")), 429, "rate_limited", "Error", HTTP_429),
    ("signzy", answer(200, loopback(429, "Too many requests")), 429, "rate_limited", "Error", HTTP_429),
    ("signzy", answer(503, loopback(429, "Too many requests")), 429, "rate_limited", "Error", HTTP_429),
    # a LoopBack error, whatever status carries it, is never a success
    ("signzy", answer(200, loopback(500, "Internal error")), 502, "provider_error", "Error", None),
    (
        "signzy",
        answer(
            500,
            loopback(500, "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters"),
        ),
        502,
        "provider_error",
        "Error",
        SIGNZY_REPUSH_PAGE,
    ),
    # undocumented: LoopBack's route miss (it names the path, which names "onboardings"), a bare page, other JSON
    (
        "signzy",
        answer(404, loopback(404, "There is no method to handle POST /kra-handler/api/onboardings/repush")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    (
        "signzy",
        answer(404, loopback(404, "Cannot POST /kra-handler/api/onboardings/repush")),
        502,
        "provider_error",
        "Error",
        None,
    ),
    (
        "signzy",
        answer(404, loopback(404, 'Shared class "onboarding" has no method handling POST /repush')),
        502,
        "provider_error",
        "Error",
        None,
    ),
    ("signzy", HTML_404, 502, "provider_bad_response", None, None),
    ("signzy", answer(400, {"message": "bad request"}), 502, "provider_error", None, None),
    (
        "signzy",
        answer(400, loopback(400, "Unexpected token", name="SyntaxError")),
        502,
        "provider_error",
        "SyntaxError",
        None,
    ),
    # --- CDP lookup: failures in HTTP 200 bodies, by errorCode ---
    (
        "cdp.lookup",
        answer(200, cdp_lookup(404, 45001, "Customer not found")),
        404,
        "customer_not_found",
        "45001",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(404, 45003, "Customer not Subscribed")),
        422,
        "customer_not_subscribed",
        "45003",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(400, 40001, "Invalid format input")),
        422,
        "invalid_customer_id",
        "40001",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(500, 45006, "Error while searching customer!")),
        502,
        "provider_error",
        "45006",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(500, 45013, "Customer under Compliance investigation!")),
        422,
        "customer_under_investigation",
        "45013",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(404, 45051, "Customer can not be Accepted")),
        422,
        "customer_blocked",
        "45051",
        CDP_DOCUMENT,
    ),
    (
        "cdp.lookup",
        answer(404, cdp_lookup(404, 45001, "Customer not found")),
        404,
        "customer_not_found",
        "45001",
        CDP_DOCUMENT,
    ),
    # undocumented: an unknown code, Spring's route-miss page (no CDP code), HTML
    ("cdp.lookup", answer(200, cdp_lookup(500, 49999, "Something new")), 502, "provider_error", "49999", None),
    ("cdp.lookup", answer(404, SPRING_404), 502, "provider_error", None, None),
    ("cdp.lookup", HTML_404, 502, "provider_bad_response", None, None),
    ("cdp.lookup", answer(200, {"status": "success"}), 502, "provider_bad_response", None, None),
    ("cdp.lookup", answer(200, {"status": "success", "data": None}), 502, "provider_bad_response", None, None),
    # the onboarding's codes, which the lookup's document does not list: undocumented there
    ("cdp.lookup", answer(200, cdp_lookup(400, 40002, "Invalid format")), 502, "provider_error", "40002", None),
    ("cdp.lookup", answer(200, cdp_lookup(406, 45053, "Invalid master data")), 502, "provider_error", "45053", None),
    ("cdp.lookup", answer(200, cdp_lookup(404, 45032, "Update failed")), 502, "provider_error", "45032", None),
    # --- CDP onboarding: error_code, under any HTTP status but a 5xx ---
    (
        "cdp.onboarding",
        answer(406, cdp_onboarding(406, 45013, "Customer 7841003236577331 Under Compliance Investigation")),
        422,
        "customer_under_investigation",
        "45013",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(406, cdp_onboarding(406, 45051, "Customer 1074023185717024 Cannot be Accepted")),
        422,
        "customer_blocked",
        "45051",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(400, cdp_onboarding(406, 45053, " Invalid Nationality INN!")),
        422,
        "invalid_master_data",
        "45053",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(400, cdp_onboarding(400, 40002, "Invalid format or missing mandatory request")),
        422,
        "missing_mandatory_fields",
        "40002",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(404, cdp_onboarding(404, 45032, "Customer update failed")),
        422,
        "customer_update_failed",
        "45032",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(200, cdp_onboarding(404, 45032, "Customer update failed")),
        422,
        "customer_update_failed",
        "45032",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(404, cdp_onboarding(404, 45032, "Customer update failed")),
        422,
        "customer_update_failed",
        "45032",
        CDP_DOCUMENT,
    ),
    (
        "cdp.onboarding",
        answer(502, cdp_onboarding(502, 40001, "Backend Technical Problem")),
        502,
        "provider_error",
        "40001",
        CDP_DOCUMENT,
    ),
    # undocumented
    ("cdp.onboarding", answer(404, SPRING_404), 502, "provider_error", None, None),
    ("cdp.onboarding", answer(400, cdp_onboarding(400, 40999, "Something new")), 502, "provider_error", "40999", None),
    ("cdp.onboarding", answer(200, {"status": "failed"}), 502, "provider_error", None, None),
    # the lookup's codes, which the onboarding's document does not list: undocumented there
    ("cdp.onboarding", answer(406, cdp_onboarding(404, 45001, "Not found")), 502, "provider_error", "45001", None),
    ("cdp.onboarding", answer(406, cdp_onboarding(404, 45003, "Not subscribed")), 502, "provider_error", "45003", None),
    ("cdp.onboarding", answer(200, cdp_onboarding(500, 45006, "Error")), 502, "provider_error", "45006", None),
    # a documented code under a 5xx: CDP failing, never the caller's 4xx
    ("cdp.lookup", answer(500, cdp_lookup(404, 45001, "Customer not found")), 502, "provider_error", "45001", None),
    ("cdp.lookup", answer(503, cdp_lookup(500, 45013, "Under investigation")), 502, "provider_error", "45013", None),
    ("cdp.onboarding", answer(502, cdp_onboarding(406, 45051, "Blocked")), 502, "provider_error", "45051", None),
    ("cdp.onboarding", answer(500, cdp_onboarding(404, 45032, "Update failed")), 502, "provider_error", "45032", None),
    # --- connectFi: its error codes, under whichever 4xx carries them ---
    (
        "connectfi.status",
        answer(404, cfi("applicationNotFound")),
        404,
        "application_not_found",
        "applicationNotFound",
        CONNECTFI_ERRORS,
    ),
    (
        "connectfi.identification",
        answer(400, cfi("customerNotFound")),
        404,
        "customer_not_found",
        "customerNotFound",
        CONNECTFI_ERRORS,
    ),
    (
        "connectfi.identification",
        answer(404, cfi("customerNotFound")),
        404,
        "customer_not_found",
        "customerNotFound",
        CONNECTFI_ERRORS,
    ),
    # documented, but about a subject the call does not name: an identification names a customer, no application
    (
        "connectfi.identification",
        answer(404, cfi("applicationNotFound")),
        502,
        "provider_error",
        "applicationNotFound",
        CONNECTFI_ERRORS,
    ),
    # documented, but about documents the caller names (an update's): where no document is named, connectFi failing
    (
        "connectfi.identification",
        answer(400, cfi("documentNotFound")),
        502,
        "provider_error",
        "documentNotFound",
        CONNECTFI_ERRORS,
    ),
    ("connectfi.status", answer(400, cfi("fileNotFound")), 502, "provider_error", "fileNotFound", CONNECTFI_ERRORS),
    # documented, and connectFi failing: its back office's error (fileNotFound, documentNotFound answered to the
    # gateway's own upload: tests/integration/routes/test_connectfi_stepup.py)
    ("connectfi.identification", answer(400, cfi("extAkepa")), 502, "provider_error", "extAkepa", CONNECTFI_ERRORS),
    (
        "connectfi.identification",
        answer(400, cfi("statusApplicationEntity")),
        422,
        "invalid_application_state",
        "statusApplicationEntity",
        CONNECTFI_ERRORS,
    ),
    (
        "connectfi.identification",
        answer(400, cfi("requestValidateError")),
        422,
        "provider_validation_failed",
        "requestValidateError",
        CONNECTFI_ERRORS,
    ),
    ("connectfi.identification", answer(429, cfi("tooManyRequests")), 429, "rate_limited", "tooManyRequests", HTTP_429),
    # undocumented: Express's route miss in connectFi's shape, an unknown code, HTML
    (
        "connectfi.status",
        answer(404, cfi("notFound", "Cannot POST /akepa/status")),
        502,
        "provider_error",
        "notFound",
        None,
    ),
    ("connectfi.identification", answer(400, cfi("somethingNew")), 502, "provider_error", "somethingNew", None),
    ("connectfi.identification", HTML_404, 502, "provider_bad_response", None, None),
    ("connectfi.identification", answer(500, cfi("internal")), 502, "provider_error", "internal", None),
    # a documented code under a status connectFi's errors never have: a 5xx is connectFi failing; a 200 too
    # (after a write, done or not: tests/integration/routes/test_connectfi_answers.py)
    ("connectfi.status", answer(500, cfi("applicationNotFound")), 502, "provider_error", "applicationNotFound", None),
    ("connectfi.status", answer(200, cfi("applicationNotFound")), 502, "provider_error", "applicationNotFound", None),
    (
        "connectfi.identification",
        answer(503, cfi("requestValidateError")),
        502,
        "provider_error",
        "requestValidateError",
        None,
    ),
    ("connectfi.identification", answer(502, cfi("customerNotFound")), 502, "provider_error", "customerNotFound", None),
]


# A new token refused too: the provider refusing the gateway, named by the provider's own code
TABLE += [
    (
        "signzy",
        answer(401, loopback(401, "Authorization Required", "AUTHORIZATION_REQUIRED")),
        502,
        "provider_auth_failed",
        "AUTHORIZATION_REQUIRED",
        None,
    ),
    ("connectfi.status", answer(401, cfi("unauthorized")), 502, "provider_auth_failed", "unauthorized", None),
    # Cladfy's result shape with its status 429 (not its error shape's): a rate limit too
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 429, "message": "Too many requests"}),
        429,
        "rate_limited",
        None,
        CLADFY_SHAPES,
    ),
]
# A status that means the same everywhere keeps its meaning whatever the body: a proxy's or a framework's text page
PLAIN_429 = answer(429, "Too Many Requests", "text/plain")
HTML_403 = answer(403, "<html><body><h1>403 Forbidden</h1></body></html>", "text/html")
TABLE += [(route, PLAIN_429, 429, "rate_limited", None, HTTP_429) for route in ROUTES]
TABLE += [(route, HTML_403, 502, "provider_auth_failed", None, None) for route in ROUTES]
# No provider documents a redirect: never followed (it would send a write, or a login, again elsewhere)
REDIRECT = Reply(302, b"", None, headers=(("Location", "/elsewhere"),))
TABLE += [(route, REDIRECT, 502, "provider_bad_response", None, None) for route in ROUTES]


def test_only_a_signal_the_provider_documents_is_ever_the_callers_4xx():
    for route, reply, status, code, _, documented in TABLE:
        if documented is None:  # undocumented: the provider failing, whatever its HTTP status
            assert (status, code.startswith("provider_")) == (502, True), (route, reply.status, code)
        assert status >= 500 or documented is not None, (route, code)


@pytest.mark.parametrize("row", TABLE, ids=[f"{row[0]}-{row[1].status}-{row[3]}-{row[4]}" for row in TABLE])
def test_provider_answers_map_to_the_documented_envelope(gateway, row):
    route, reply, status, code, provider_code, _documented = row

    # Given the provider answers this
    spec = ROUTES[route]
    if spec.login:
        gateway.provider.reply(*spec.login)
    gateway.provider.reply(spec.path, reply)

    # When a caller makes a valid request
    result = gateway.call(spec.function, spec.body)

    # Then the caller gets the mapped status and code, with the provider's facts and none of its words
    assert (result.status, result.error["code"]) == (status, code), result.text
    assert result.error["provider"] == route.split(".")[0]
    assert result.error["providerStatus"] == reply.status
    assert result.error["providerCode"] == provider_code
    assert "7841003236577331" not in result.text  # provider messages (CDP's name customers) are never echoed


@pytest.mark.parametrize("code", [1005, None], ids=["code 1005", "its error shape's status 429 alone"])
def test_cladfys_body_rate_limit_is_retried_within_the_budget(gateway, code):
    # Given Cladfy rate-limits the first call in its body (HTTP 200, code 1005 or status 429), then answers
    gateway.provider.reply(cladfy.KRAPIN, answer(200, cladfy_error(429, "Rate limit exceeded", code)), cladfy.SUCCESS)

    # When a caller looks a PIN up
    result = gateway.call(cladfy.FUNCTION, {"pinnumber": cladfy.PIN})

    # Then the lookup was retried, like an HTTP 429, and the caller never saw the limit
    assert result.status == 200
    assert len(gateway.provider.requests(cladfy.KRAPIN)) == 2


def test_cladfys_persistent_body_rate_limit_is_429_after_bounded_retries(gateway):
    gateway.provider.reply(cladfy.KRAPIN, answer(200, cladfy_error(429, "Rate limit exceeded", 1005)))

    result = gateway.call(cladfy.FUNCTION, {"pinnumber": cladfy.PIN})

    assert (result.status, result.error["code"]) == (429, "rate_limited")
    assert len(gateway.provider.requests(cladfy.KRAPIN)) == 3
