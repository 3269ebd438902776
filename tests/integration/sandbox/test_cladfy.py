"""The Cladfy sandbox: KRA PIN lookup, its credentials, business errors and magic PINs."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.sandbox.conftest import (
    CLADFY,
    SLOW_SECONDS,
    TIMEOUT,
    assert_html,
    assert_json,
    basic,
    cladfy,
)

CLADFY_DATA_FIELDS = {
    "Business_Certificate_Id",
    "Email_Addresses",
    "Locality",
    "PINNo",
    "Partnership",
    "Paye",
    "Station",
    "TaxpayerName",
    "Tot",
    "Trading_Business_Name",
    "Vat",
}


def test_cladfy_success(urls):
    first = assert_json(cladfy(urls, "A004416331M"), 200)
    second = assert_json(cladfy(urls, "P051365947M"), 200)
    assert first["success"] is True and first["response_code"] == 200
    assert first["message"] == "KRA Pin Details Fetched Successfully"
    assert set(first["data"]) == CLADFY_DATA_FIELDS
    assert first["data"]["PINNo"] == "A004416331M" and second["data"]["PINNo"] == "P051365947M"
    assert first["request_id"] != second["request_id"]
    assert first["extra_field"] == "kept"


@pytest.mark.parametrize("auth", [None, basic(CLADFY["clientId"], "wrong"), "Bearer x", "Basic %%%"])
def test_cladfy_rejects_bad_credentials(urls, auth):
    headers = {} if auth is None else {"Authorization": auth}
    response = requests.post(
        urls["CLADFY_BASE_URL"] + "/krapin", json={"pinnumber": "A004416331M"}, headers=headers, timeout=TIMEOUT
    )
    assert assert_json(response, 401) == {"status": 401, "message": "Unauthorized", "code": 1204, "response": None}


def test_cladfy_bad_json_and_missing_pin(urls):
    assert assert_json(cladfy(urls, None, json=None, data=b"{not json"), 400)["code"] == 1002
    assert assert_json(cladfy(urls, None, json={}), 400)["code"] == 1103
    assert assert_json(cladfy(urls, "12345"), 200)["code"] == 1003


@pytest.mark.parametrize(
    ("pin", "expected"),
    [
        ("A000000404Z", {"success": False, "response_code": 404}),
        ("A000000200Z", {"success": False, "response_code": 200}),
        ("A000000503Z", {"success": False, "response_code": 404}),
        ("A000001003Z", {"status": 400, "code": 1003, "response": None}),
        ("A000001005Z", {"status": 429, "code": 1005, "response": None}),
        ("A000001200Z", {"status": 401, "code": 1200, "response": None}),
    ],
)
def test_cladfy_business_errors_are_http_200(urls, pin, expected):
    body = assert_json(cladfy(urls, pin), 200)
    assert expected.items() <= body.items()
    assert "message" in body


def test_cladfy_transport_failures(urls):
    assert_html(cladfy(urls, "A000000502Z"), 502)
    truncated = cladfy(urls, "A000000206Z")
    assert truncated.status_code == 200 and truncated.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        truncated.json()
    assert assert_json(cladfy(urls, "A000000500Z"), 500)["status"] == 500


def test_cladfy_slow_answer_times_out_then_answers(urls):
    with pytest.raises(requests.Timeout):
        cladfy(urls, "A000000504Z", timeout=0.5)
    started = time.monotonic()
    body = assert_json(cladfy(urls, "A000000504Z", timeout=SLOW_SECONDS + 3), 200)
    assert time.monotonic() - started >= SLOW_SECONDS - 0.2
    assert body["data"]["PINNo"] == "A000000504Z"
