"""Every provider's error mapping, table-driven (docs/errors.md holds the same tables in prose).

Only a documented signal maps to a caller-facing status: a provider code, the provider's own error shape naming the
caller's subject, or an HTTP status that means the same everywhere (429, 401/403). Anything else, a framework's
bare 404 for a route miss included, is the provider (or our configuration of it) failing: 502.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.integration.routes import test_cdp as cdp
from tests.integration.routes import test_cladfy_krapin as cladfy
from tests.integration.routes import test_connectfi as connectfi
from tests.integration.routes import test_signzy_repush as signzy
from tests.integration.routes.error_rows import HTML_403, HTTP_429, PLAIN_429, REDIRECT, answer
from tests.integration.routes.error_rows import cdp as cdp_rows
from tests.integration.routes.error_rows import cladfy as cladfy_rows
from tests.integration.routes.error_rows import connectfi as connectfi_rows
from tests.integration.routes.error_rows import signzy as signzy_rows
from tests.integration.routes.error_rows.cladfy import cladfy_error


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


TABLE = cladfy_rows.ROWS + signzy_rows.ROWS + cdp_rows.ROWS + connectfi_rows.ROWS
TABLE += [(route, PLAIN_429, 429, "rate_limited", None, HTTP_429) for route in ROUTES]
TABLE += [(route, HTML_403, 502, "provider_auth_failed", None, None) for route in ROUTES]
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
