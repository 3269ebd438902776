"""Cladfy's KRA PIN lookup: body codes, mostly under HTTP 200."""

from __future__ import annotations

import json

from tests.integration.routes.error_rows import CLADFY_CODES, CLADFY_SHAPES, HTML_404, SPRING_404, answer
from tests.integration.routes.test_cladfy_krapin import SUCCESS


def cladfy_error(status: int, message: str, code: int | None) -> dict:
    return {"status": status, "message": message, "code": code, "response": None}


ROWS = [
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
    # nor under an HTTP 5xx, whatever the body says: Cladfy's 500 is its own failure
    ("cladfy", answer(500, cladfy_error(400, "Validation failure", 1003)), 502, "provider_error", "1003", None),
    ("cladfy", answer(503, cladfy_error(404, "Not Found", None)), 502, "provider_error", None, None),
    (
        "cladfy",
        answer(500, {"success": False, "response_code": 404, "message": "KRA PIN not found"}),
        502,
        "provider_error",
        None,
        None,
    ),
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
    # an outage is no verdict on the PIN, whatever status or words of "no data" come with it
    *[
        ("cladfy", answer(200, body), 502, "provider_error", None, None)
        for body in (
            {"success": False, "response_code": 200, "message": "No data received from KRA, try again later"},
            {"success": False, "response_code": 404, "message": "Upstream service unavailable"},
            cladfy_error(404, "KRA PIN not found: KRA iTax timed out", None),
            {"success": False, "message": "No data: KRA iTax is not responding"},
            {"success": False, "message": "KRA system error: no data"},
            {"success": False, "response_code": 404, "message": "Could not connect to KRA iTax: PIN not found"},
            {"success": False, "response_code": 404, "message": "Could not fetch details from KRA"},
            {"success": False, "response_code": 404, "message": "Failed retrieving the PIN's details: no data"},
            {"success": False, "response_code": 404, "message": "Unable to reach KRA, no records"},
        )
    ],
    (
        "cladfy",
        answer(200, {"success": False, "message": "KRA PIN not found. Please check the PIN and try again"}),
        404,
        "kra_pin_not_found",
        None,
        CLADFY_SHAPES,
    ),
    (
        "cladfy",
        answer(200, {"success": False, "message": "No records found for this PIN"}),
        404,
        "kra_pin_not_found",
        None,
        CLADFY_SHAPES,
    ),
    # a success that is not strict JSON cannot be passed on as the caller's JSON: NaN, a key given twice, 1e400
    ("cladfy", answer(200, json.dumps(SUCCESS)[:-1] + ', "score": NaN}'), 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, json.dumps(SUCCESS)[:-1] + ', "success": true}'), 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, json.dumps(SUCCESS)[:-1] + ', "score": 1e400}'), 502, "provider_bad_response", None, None),
    # nested deeper than Python's JSON reader goes: no JSON the gateway can pass on, never the gateway's own fault
    ("cladfy", answer(200, "[" * 100_000 + "]" * 100_000), 502, "provider_bad_response", None, None),
    # a success without its data is no success
    ("cladfy", answer(200, {**SUCCESS, "data": None}), 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, {**SUCCESS, "success": "true"}), 502, "provider_error", None, None),
    # undocumented: a framework's 404 for a route miss, an HTML page, a body of no Cladfy shape
    ("cladfy", answer(404, {"detail": "Not Found"}), 502, "provider_error", None, None),
    ("cladfy", answer(404, SPRING_404), 502, "provider_error", None, None),
    # nor a body with part of Cladfy's error shape (status, code and response)
    ("cladfy", answer(200, {"status": 404, "message": "not found", "code": None}), 502, "provider_error", None, None),
    ("cladfy", answer(200, {"status": 404, "message": "gone", "response": None}), 502, "provider_error", None, None),
    ("cladfy", answer(404, {"message": "gone", "code": None, "response": None}), 502, "provider_error", None, None),
    ("cladfy", HTML_404, 502, "provider_bad_response", None, None),
    ("cladfy", answer(200, {"result": "unexpected"}), 502, "provider_error", None, None),
    # Cladfy's result shape with its status 429 (not its error shape's): a rate limit too
    (
        "cladfy",
        answer(200, {"success": False, "response_code": 429, "message": "Too many requests"}),
        429,
        "rate_limited",
        None,
        CLADFY_SHAPES,
    ),
    # and its error shape's status 429 under an HTTP 5xx: a rate limit still, not Cladfy failing
    ("cladfy", answer(503, cladfy_error(429, "Too many requests", None)), 429, "rate_limited", None, CLADFY_SHAPES),
]
