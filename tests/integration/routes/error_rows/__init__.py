"""Each provider's answers and what the gateway must make of them, one module per provider; test_error_mapping.py
runs every row. A row: (route, the provider's answer, gateway status, gateway code, providerCode, where the provider
documents the signal: None when it does not, which makes the answer the provider failing, 502)."""

from __future__ import annotations

import json

from tests.support.fake_provider import Reply


def answer(status: int, body: dict | str, content_type: str = "application/json") -> Reply:
    text = body if isinstance(body, str) else json.dumps(body)
    return Reply(status, text.encode(), content_type)


HTML_404 = answer(404, "<html><body><h1>404 Not Found</h1></body></html>", "text/html")
SPRING_404 = {"timestamp": "2026-11-22T10:00:00.000+00:00", "status": 404, "error": "Not Found", "path": "/api/x"}

# Where each provider documents the signal a row maps; None: undocumented, which is the provider failing (502).
CLADFY_SHAPES = "Cladfy's result and error shapes (status, response_code) with a 404: its own word for not found"
CLADFY_CODES = "Cladfy's published error codes (1002, 1003, 1005, 1101, 1103, 1200, 1204) and its 401"
SIGNZY_REPUSH_PAGE = "the repush page's one error: 500 for an id that is not an ObjectId"
CDP_DOCUMENT = "CDP's partner onboarding document: the lookup's and the onboarding's failure codes"
CONNECTFI_ERRORS = "connectFi's public KYC/KYB error list"
HTTP_429 = "HTTP: 429 is a rate limit, whoever answers it"

# A status that means the same everywhere keeps its meaning whatever the body: a proxy's or a framework's text page
PLAIN_429 = answer(429, "Too Many Requests", "text/plain")
HTML_403 = answer(403, "<html><body><h1>403 Forbidden</h1></body></html>", "text/html")
# No provider documents a redirect: never followed (it would send a write, or a login, again elsewhere)
REDIRECT = Reply(302, b"", None, headers=(("Location", "/elsewhere"),))
