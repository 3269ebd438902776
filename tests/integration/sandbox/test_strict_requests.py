"""The sandbox is as strict as the providers' documents about how a request is sent: a JSON body only as
`application/json` (every document asks for it), and Cladfy's PIN exactly as sent. A gateway that dropped the header,
or stopped normalising the PIN, fails here instead of passing against a lenient double."""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.sandbox.conftest import (
    CDP_LOOKUP_PATH,
    CDP_ONBOARDING_PATH,
    CLADFY,
    OID,
    TIMEOUT,
    assert_json,
    basic,
    cdp_tokens,
    cladfy,
    connectfi_token,
    onboarding_body,
    signzy_token,
)

STATUS_BODY = {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "applicationId": "iapp_1BGgJeDQJFo5MCup15zq9A"}


def send(urls, call: str, media_type: str | None) -> requests.Response:
    """One valid request of each JSON endpoint, its body sent under `media_type` (None: no Content-Type)."""
    if call == "cladfy":
        base, path, body = "CLADFY_BASE_URL", "/krapin", {"pinnumber": "A004416331M"}
        headers = {"Authorization": basic(CLADFY["clientId"], CLADFY["secretKey"])}
    elif call == "signzy":
        base, path, body = "SIGNZY_BASE_URL", "/kra-handler/api/onboardings/repush", {"onboardingId": OID}
        headers = {"Authorization": signzy_token(urls)}
    elif call.startswith("cdp"):
        path, body = (CDP_LOOKUP_PATH, {"idNumber": "784199554586091", "idType": "4"})
        if call == "cdp onboarding":
            path, body = CDP_ONBOARDING_PATH, onboarding_body()
        base, headers = "CDP_BASE_URL", {"Authorization": f"Bearer {cdp_tokens(urls)['access_token']}"}
    else:
        base, path, body = "CONNECTFI_BASE_URL", "/akepa/status", STATUS_BODY
        headers = {"x-connectfi-token": connectfi_token(urls)}
    if media_type is not None:
        headers["Content-Type"] = media_type
    return requests.post(urls[base] + path, data=json.dumps(body).encode(), headers=headers, timeout=TIMEOUT)


# Each provider's own refusal of a body it does not read as JSON: what it answers a body that is not JSON.
def cladfy_bad_json(answer: requests.Response) -> bool:
    return answer.status_code == 400 and answer.json()["code"] == 1002


def signzy_syntax_error(answer: requests.Response) -> bool:
    return answer.status_code == 400 and answer.json()["error"]["name"] == "SyntaxError"


def cdp_lookup_invalid(answer: requests.Response) -> bool:
    body = answer.json()
    return answer.status_code == 200 and (body["status"], body.get("errorCode")) == ("failure", 40001)


def cdp_onboarding_missing(answer: requests.Response) -> bool:
    return answer.status_code == 400 and answer.json()["error_code"] == 40002


def connectfi_invalid(answer: requests.Response) -> bool:
    return answer.status_code == 400 and answer.json()["code"] == "requestValidateError"


REFUSED = {
    "cladfy": cladfy_bad_json,
    "signzy": signzy_syntax_error,
    "cdp lookup": cdp_lookup_invalid,
    "cdp onboarding": cdp_onboarding_missing,
    "connectfi": connectfi_invalid,
}


@pytest.mark.parametrize("call", REFUSED)
@pytest.mark.parametrize("media_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_not_sent_as_json_is_refused_as_the_provider_refuses_bad_json(urls, call, media_type):
    assert REFUSED[call](send(urls, call, media_type))


@pytest.mark.parametrize("call", REFUSED)
def test_the_same_body_sent_as_json_is_taken(urls, call):
    answer = send(urls, call, "application/json; charset=utf-8")

    assert answer.status_code == 200 and not REFUSED[call](answer), answer.text


@pytest.mark.parametrize("pin", ["a004416331m", " A004416331M", "A004416331M\n"])
def test_cladfy_takes_the_pin_as_sent(urls, pin):
    assert assert_json(cladfy(urls, pin), 200)["code"] == 1003
