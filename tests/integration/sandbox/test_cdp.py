"""The CDP sandbox: Keycloak tokens, customer lookup and onboarding, the rules CDP's document shows it applying,
and magic id numbers."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.integration.sandbox.conftest import (
    CDP,
    CDP_LOOKUP_PATH,
    CDP_ONBOARDING_PATH,
    assert_html,
    assert_json,
    cdp_api,
    cdp_password_form,
    cdp_refresh,
    cdp_token_call,
    cdp_tokens,
    onboarding_body,
)


def test_cdp_password_grant(urls, sandbox):
    before = sandbox.call_count("cdp", "token")
    body = cdp_tokens(urls)
    assert set(body) == {
        "token_type",
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "scope",
        "not-before-policy",
        "session_state",
    }
    assert body["expires_in"] == 7199 and body["refresh_expires_in"] == 7199
    assert body["scope"] == CDP["scope"] and body["token_type"] == "bearer"
    assert sandbox.call_count("cdp", "token") == before + 1


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (cdp_password_form(client_secret="wrong"), 401, "unauthorized_client"),
        (cdp_password_form(client_id="other"), 401, "unauthorized_client"),
        (cdp_password_form(password="wrong"), 401, "invalid_grant"),
        (cdp_password_form(username=None), 400, "invalid_request"),
        (cdp_password_form(scope=None), 400, "invalid_request"),
        (cdp_password_form(grant_type=None), 400, "invalid_request"),
        (cdp_password_form(grant_type="client_credentials"), 400, "unsupported_grant_type"),
        (cdp_password_form(scope="api://other/customer"), 400, "invalid_scope"),
        (
            {"grant_type": "refresh_token", "client_id": CDP["clientId"], "client_secret": CDP["clientSecret"]},
            400,
            "invalid_request",
        ),
    ],
)
def test_cdp_token_errors(urls, form, status, error):
    body = assert_json(cdp_token_call(urls, form), status)
    assert body["error"] == error and body["error_description"]


def test_cdp_token_rejects_two_grant_types(urls):
    for second in ("password", "refresh_token"):
        form = [*cdp_password_form().items(), ("grant_type", second)]
        assert assert_json(cdp_token_call(urls, form), 400) == {
            "error": "invalid_request",
            "error_description": "duplicated parameter",
        }


def test_cdp_refresh_tokens_are_single_use(urls):
    first = cdp_tokens(urls)
    second = assert_json(cdp_refresh(urls, first["refresh_token"]), 200)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_state"] == first["session_state"]
    assert assert_json(cdp_refresh(urls, first["refresh_token"]), 400) == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }
    assert assert_json(cdp_refresh(urls, second["refresh_token"]), 200)["access_token"]
    assert assert_json(cdp_refresh(urls, "garbage"), 400)["error"] == "invalid_grant"
    lookup = cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784199554586091", "idType": "4"}, second["access_token"])
    assert lookup.status_code == 200


def test_cdp_tokens_expire(make_sandbox):
    urls = make_sandbox(cdp_token_ttl=1, cdp_refresh_ttl=1).base_urls()
    tokens = cdp_tokens(urls)
    assert tokens["expires_in"] == 1 and tokens["refresh_expires_in"] == 1
    time.sleep(1.1)
    response = cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784199554586091", "idType": "4"}, tokens["access_token"])
    assert response.status_code == 401
    assert assert_json(cdp_refresh(urls, tokens["refresh_token"]), 400) == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }


@pytest.fixture(scope="module")
def cdp_access(sandbox):
    return cdp_tokens(sandbox.base_urls())["access_token"]


def test_cdp_lookup_success(urls, cdp_access, sandbox):
    before = sandbox.call_count("cdp", "lookup")
    body = assert_json(cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784199554586091", "idType": "4"}, cdp_access), 200)
    assert body["status"] == "success" and body["statusCode"] == 200 and body["extra_field"] == "kept"
    assert set(body["data"]) == {
        "ecrn",
        "first_name",
        "middle_name",
        "last_name",
        "agent_location_id",
        "primary_mobile_number",
        "email_id",
        "customer_status",
        "aml_scan_status",
        "id_status",
        "id_date_of_expiry",
    }
    assert sandbox.call_count("cdp", "lookup") == before + 1


@pytest.mark.parametrize("token", [None, "unknown"])
def test_cdp_lookup_authentication_failure(urls, token):
    body = assert_json(cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "1", "idType": "4"}, token), 401)
    assert set(body) == {"timestamp", "status", "error", "path"}
    assert body["status"] == 401 and body["error"] == "Unauthorized" and body["path"] == "/api/v2/customer/validate"


@pytest.mark.parametrize(
    ("code", "status_code", "message"),
    [
        (45001, 404, "Customer not found"),
        (45003, 404, "Customer not Subscribed"),
        (40001, 400, "Invalid format input"),
        (45006, 500, "Error while searching customer!"),
        (45013, 500, "Customer under Compliance investigation!"),
        (45051, 404, "Customer can not be Accepted"),
    ],
)
def test_cdp_lookup_failures_are_http_200(urls, cdp_access, code, status_code, message):
    response = cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": f"7840000000{code}", "idType": "4"}, cdp_access)
    assert assert_json(response, 200) == {
        "status": "failure",
        "statusCode": status_code,
        "errorCode": code,
        "message": message,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"idNumber": "1" * 31, "idType": "4"},
        {"idNumber": "784", "idType": "4444"},
        {"idNumber": 784, "idType": "4"},
        {"idNumber": "784", "idType": 4},
        {"idNumber": "784"},
        {"idNumber": "", "idType": "4"},
        {},
    ],
)
def test_cdp_lookup_answers_40001_outside_its_request_table(urls, cdp_access, body):
    assert assert_json(cdp_api(urls, CDP_LOOKUP_PATH, body, cdp_access), 200)["errorCode"] == 40001


def test_cdp_lookup_takes_any_characters_within_its_lengths(urls, cdp_access):
    body = {"idNumber": "784-1995-5458609-1", "idType": "A1"}
    assert assert_json(cdp_api(urls, CDP_LOOKUP_PATH, body, cdp_access), 200)["status"] == "success"


def test_cdp_lookup_transport_failures(urls, cdp_access):
    assert_html(cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784000000000502", "idType": "4"}, cdp_access), 502)
    with pytest.raises(requests.Timeout):
        cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784000000000504", "idType": "4"}, cdp_access, timeout=0.5)


def test_cdp_onboarding_success_then_lookup_finds_the_customer(urls, cdp_access):
    body = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body("784111122223333"), cdp_access), 200)
    assert body["status"] == "success" and body["status_code"] == 200 and body["extra_field"] == "kept"
    assert set(body["data"]) == {"aml_scan_status", "ecrn", "customer_status", "pep", "aml_category"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    found = cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784111122223333", "idType": "4"}, cdp_access).json()
    assert found["data"]["ecrn"] == body["data"]["ecrn"]
    assert (found["data"]["first_name"], found["data"]["last_name"]) == ("TEST", "PERSON")


def test_cdp_onboarding_authentication_failure(urls):
    body = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body(), "nope"), 401)
    assert body["message"] == "" and body["path"] == "/api/v1/CAAS/onBoarding/customer"


@pytest.mark.parametrize(
    ("code", "http_status", "status_code"),
    [(45013, 406, 406), (45051, 406, 406), (45053, 400, 406), (40002, 400, 400), (45032, 404, 404), (40001, 502, 502)],
)
def test_cdp_onboarding_magic_failures(urls, cdp_access, code, http_status, status_code):
    response = cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body(f"7840000000{code}"), cdp_access)
    body = assert_json(response, http_status)
    assert body["error_code"] == code and body["status_code"] == status_code
    assert body["request_id"] and body["message"]
    if code == 40002:
        assert body["details"] == {"firstName": "Invalid first name"}


@pytest.mark.parametrize("first_name", [None, 7, "", "  "])
def test_cdp_onboarding_refuses_a_first_name_missing_not_a_string_or_blank(urls, cdp_access, first_name):
    body = onboarding_body(first_name=first_name)  # None: without one
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 400)
    assert (reply["error_code"], reply["status"]) == (40002, "failure")
    assert reply["details"] == {"firstName": "Invalid first name"}


def test_cdp_onboarding_needs_nothing_but_a_first_name(urls, cdp_access):
    first, second = (
        assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, {"first_name": "TEST"}, cdp_access), 200) for _ in range(2)
    )
    assert first["status"] == second["status"] == "success"
    assert first["data"]["ecrn"] != second["data"]["ecrn"]  # no id number: a new customer each time


def test_cdp_onboarding_takes_fields_its_example_lacks_and_types_other_than_its(urls, cdp_access):
    # As Spring's JSON reader does: unknown fields ignored, no type of the example enforced
    image = {"base64_data": "/9j/2Q==", "content_type": "image/jpeg"}
    body = onboarding_body(
        "784111122224444",
        address_list=[{"address_type_id": 1, "country": "AE", "zip": "13345"}],
        additional_docs=[{**image, "document_id": 1}],
        ekyc_reports=[{"result": "verified", "report": image}],
        facial_image=image,
    )
    body["id_details"][0]["id_type"] = "4"
    assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"
    found = cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784111122224444", "idType": "4"}, cdp_access).json()
    assert found["data"]["first_name"] == "TEST"


@pytest.mark.parametrize("nationality", ["INN", "in", 91])
def test_cdp_onboarding_rules_on_the_nationality_with_its_master_data(urls, cdp_access, nationality):
    body = onboarding_body(nationality=nationality)
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 400)
    assert (reply["error_code"], reply["status_code"], reply["message"]) == (
        45053,
        406,
        f" Invalid Nationality {nationality}!",
    )


def test_cdp_master_data_knows_codes_real_documents_carry(urls, cdp_access):
    body = onboarding_body(nationality="XK", country_of_birth="XK")
    assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"


def test_cdp_onboarding_checks_no_other_country_field(urls, cdp_access):
    # Its document shows CDP refusing a nationality only; which other fields it checks is not published
    body = onboarding_body(country_of_residence="ZZ", address_list=[{"address_type_id": "1", "country": "UAE"}])
    assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"


def test_cdp_onboarding_transport_failures(urls, cdp_access):
    assert_html(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body("784000000000502"), cdp_access), 502)
    with pytest.raises(requests.Timeout):
        cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body("784000000000504"), cdp_access, timeout=0.5)


def test_cdp_onboarding_with_ids_of_any_shape_is_a_customer_without_an_id_number(urls, cdp_access):
    for id_details in (["x"], [{"id_type": 4}], {"id_number": "784199554586091"}, "784199554586091"):
        body = onboarding_body(id_details=id_details)
        assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"


def test_cdp_onboarding_body_that_is_not_a_json_object_is_40002(urls, cdp_access):
    for body in ([{"first_name": "TEST"}], "TEST", 7):
        reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 400)
        assert (reply["error_code"], reply["details"]) == (40002, {"request": "Malformed JSON request"})
