"""connectFi's identification and status check: its error codes, under whichever 4xx carries them."""

from __future__ import annotations

from tests.integration.routes.error_rows import CONNECTFI_ERRORS, HTML_404, HTTP_429, answer


def cfi(code: str, message: str = "error") -> dict:
    return {"requestId": "req-7", "code": code, "subCode": "", "context": None, "message": message}


ROWS = [
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
    # a new token refused too: the provider refusing the gateway, named by its own code
    ("connectfi.status", answer(401, cfi("unauthorized")), 502, "provider_auth_failed", "unauthorized", None),
]
