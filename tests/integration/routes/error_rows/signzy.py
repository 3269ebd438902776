"""Signzy EzKRA's repush: LoopBack's error envelope; the repush page documents one error, its 500."""

from __future__ import annotations

from tests.integration.routes.error_rows import HTML_404, HTTP_429, SIGNZY_REPUSH_PAGE, answer


def loopback(status: int, message: str, code: str | None = None, name: str = "Error") -> dict:
    error = {"statusCode": status, "name": name, "message": message}
    return {"error": error | ({"code": code} if code else {})}


ROWS = [
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
    # the repush page's text spells the envelope's keys in lower case
    (
        "signzy",
        answer(200, {"error": {"statuscode": 429, "name": "Error", "message": "Too many requests"}}),
        429,
        "rate_limited",
        "Error",
        HTTP_429,
    ),
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
    # a repush answered 2xx in JSON the gateway cannot pass on faithfully (a key given twice, Infinity)
    ("signzy", answer(200, '{"message": "repushed", "message": "failed"}'), 502, "provider_bad_response", None, None),
    ("signzy", answer(200, '{"message": "repushed", "n": Infinity}'), 502, "provider_bad_response", None, None),
    ("signzy", answer(400, {"message": "bad request"}), 502, "provider_error", None, None),
    (
        "signzy",
        answer(400, loopback(400, "Unexpected token", name="SyntaxError")),
        502,
        "provider_error",
        "SyntaxError",
        None,
    ),
    # a new token refused too: the provider refusing the gateway, named by its own code
    (
        "signzy",
        answer(401, loopback(401, "Authorization Required", "AUTHORIZATION_REQUIRED")),
        502,
        "provider_auth_failed",
        "AUTHORIZATION_REQUIRED",
        None,
    ),
]
