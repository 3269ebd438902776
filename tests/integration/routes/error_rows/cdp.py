"""CDP's customer lookup (failures in HTTP 200 bodies, by errorCode) and individual onboarding
(error_code, under any HTTP status, a 5xx included)."""

from __future__ import annotations

from tests.integration.routes.error_rows import CDP_DOCUMENT, HTML_404, SPRING_404, answer


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


ROWS = [
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
    # --- CDP onboarding: error_code, under any HTTP status, a 5xx included ---
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
    # an onboarding refusal code under a 5xx: CDP failing (its document gives its refusals under 4xx statuses and
    # 45032's under none; only its backend failure under a 502), the onboarding's outcome unknown
    ("cdp.onboarding", answer(502, cdp_onboarding(406, 45051, "Blocked")), 502, "provider_error", "45051", None),
    ("cdp.onboarding", answer(500, cdp_onboarding(404, 45032, "Update failed")), 502, "provider_error", "45032", None),
    # a lookup code under a 5xx: the lookup's failures come as HTTP 200, so CDP failing, never the caller's 404/422
    ("cdp.lookup", answer(500, cdp_lookup(404, 45001, "Customer not found")), 502, "provider_error", "45001", None),
    ("cdp.lookup", answer(503, cdp_lookup(500, 45013, "Under investigation")), 502, "provider_error", "45013", None),
    # CDP's documented "Backend Technical Problem" (HTTP 502, code 40001) answered to a lookup, where 40001 would
    # otherwise be the caller's id refused
    (
        "cdp.lookup",
        answer(
            502, {"status": "failed", "message": "Backend Technical Problem", "status_code": 502, "error_code": 40001}
        ),
        502,
        "provider_error",
        "40001",
        None,
    ),
    # the same "Backend Technical Problem" answered to a lookup the lookup's way, as HTTP 200 (as its 45006): its 40001
    # with a 5xx in the body is CDP failing, never the caller's id refused (the lookup's 40001 carries a 400)
    (
        "cdp.lookup",
        answer(
            200, {"status": "failed", "message": "Backend Technical Problem", "status_code": 502, "error_code": 40001}
        ),
        502,
        "provider_error",
        "40001",
        None,
    ),
    (
        "cdp.lookup",
        answer(200, cdp_lookup(502, 40001, "Backend Technical Problem")),
        502,
        "provider_error",
        "40001",
        None,
    ),
    # without a code, a 5xx is CDP failing
    ("cdp.onboarding", answer(500, {"status": "failed", "message": "oops"}), 502, "provider_error", None, None),
]
