"""The Signzy EzKRA sandbox: login, repush, the one Authorization form, magic ids, LoopBack route misses."""

from __future__ import annotations

import base64
import re

import pytest
import requests

from tests.integration.sandbox.conftest import (
    OID,
    TIMEOUT,
    assert_html,
    assert_json,
    repush,
    signzy_login,
    signzy_token,
)


def test_signzy_login(urls, sandbox):
    before = sandbox.call_count("signzy", "login")
    body = assert_json(signzy_login(urls), 200)
    assert set(body) == {"id", "ttl", "created", "userId"}
    assert body["ttl"] == 1209600 and re.fullmatch(r"[0-9a-f]{24}", body["userId"])
    assert sandbox.call_count("signzy", "login") == before + 1


def test_signzy_login_failures(urls):
    assert assert_json(signzy_login(urls, password="wrong"), 401) == {
        "error": {"statusCode": 401, "name": "Error", "message": "login failed", "code": "LOGIN_FAILED"}
    }
    response = requests.post(
        urls["SIGNZY_BASE_URL"] + "/kra-handler/api/customers/login",
        data=b"not json",
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    error = assert_json(response, 400)["error"]
    assert error["statusCode"] == 400 and error["name"] == "SyntaxError"


@pytest.mark.parametrize("accepted", ["raw", "bearer"])
def test_signzy_repush_accepts_exactly_one_authorization_form(make_sandbox, accepted):
    urls = make_sandbox(signzy_auth_header=accepted).base_urls()
    token = signzy_token(urls)

    assert repush(urls, OID, token, bearer=accepted == "bearer").status_code == 200
    refused = repush(urls, OID, token, bearer=accepted != "bearer")
    assert assert_json(refused, 401)["error"]["code"] == "AUTHORIZATION_REQUIRED"


def test_signzy_raw_mode_decodes_a_bearer_value_as_loopback_does(make_sandbox):
    urls = make_sandbox().base_urls()  # raw is the default
    token = signzy_token(urls)

    encoded = base64.b64encode(token.encode()).decode()
    assert repush(urls, OID, encoded, bearer=True).status_code == 200


@pytest.mark.parametrize(("read", "other"), [("onboardingId", "onboardingid"), ("onboardingid", "onboardingId")])
def test_signzy_repush_reads_exactly_one_spelling_of_the_onboarding_id(make_sandbox, read, other):
    urls = make_sandbox(signzy_onboarding_id_field=read).base_urls()
    token = signzy_token(urls)

    assert assert_json(repush(urls, OID, token, field=read), 200)[read] == OID  # its answer spelt as it reads
    # the other spelling is no field Signzy reads: the onboarding id is absent, Signzy's documented 500
    assert assert_json(repush(urls, OID, token, field=other), 500)["error"] == {
        "statusCode": 500,
        "name": "Error",
        "message": "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters",
    }


def test_signzy_repush_answers_the_documented_success(urls):
    login = signzy_login(urls).json()
    body = assert_json(repush(urls, OID, login["id"]), 200)
    assert body == {
        "onboardingId": OID,
        "customerId": login["userId"],
        "callbackUrl": "",
        "message": "The application is in progress, and it has been repushed to KRA",
        "extra_field": "kept",
    }


@pytest.mark.parametrize("token", ["", "unknown-token"])
def test_signzy_repush_requires_a_valid_token(urls, token):
    assert assert_json(repush(urls, OID, token), 401) == {
        "error": {
            "statusCode": 401,
            "name": "Error",
            "message": "Authorization Required",
            "code": "AUTHORIZATION_REQUIRED",
        }
    }


@pytest.mark.parametrize("onboarding_id", ["65xxxxxx9b", "1234", "", 42, "65a1b2c3d4e5f60718293a4b\n"])
def test_signzy_repush_rejects_non_object_ids(urls, onboarding_id):
    assert assert_json(repush(urls, onboarding_id, signzy_token(urls)), 500) == {
        "error": {
            "statusCode": 500,
            "name": "Error",
            "message": "Argument passed in must be a single string of 12 bytes or a string of 24 hex characters",
        }
    }


def test_signzy_repush_magic_failures(urls):
    token = signzy_token(urls)
    not_found = assert_json(repush(urls, "000000000000000000000404", token), 404)["error"]
    assert not_found["statusCode"] == 404 and not_found["name"] == "Error"
    assert assert_json(repush(urls, "000000000000000000000500", token), 500)["error"]["statusCode"] == 500
    assert assert_json(repush(urls, "000000000000000000000422", token), 422)["error"]["name"] == "ValidationError"
    assert assert_json(repush(urls, "000000000000000000000403", token), 403)["error"]["code"] == "ACCESS_DENIED"
    for _ in range(2):  # denied whatever the token, every time
        denied = assert_json(repush(urls, "00000000000000000000a401", token), 401)["error"]
        assert denied["code"] == "AUTHORIZATION_REQUIRED"
    assert repush(urls, OID, token).status_code == 200  # the token itself is good
    assert_html(repush(urls, "000000000000000000000502", token), 502)
    with pytest.raises(requests.Timeout):
        repush(urls, "000000000000000000000504", token, timeout=0.5)


def test_signzy_reauth_magic_forgets_the_token_then_lets_the_retry_through(make_sandbox):
    urls = make_sandbox().base_urls()
    old = signzy_token(urls)
    assert assert_json(repush(urls, "000000000000000000000401", old), 401)["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert repush(urls, OID, old).status_code == 401  # the old token is gone for good
    new = signzy_token(urls)
    assert assert_json(repush(urls, "000000000000000000000401", new), 200)["onboardingId"] == "000000000000000000000401"
    # the next use bounces again, so every gateway test using this id sees the 401 -> login -> retry path
    assert repush(urls, "000000000000000000000401", new).status_code == 401


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/kra-handler/api/onboardings/repushx", 'Shared class "onboarding" has no method handling POST /repushx'),
        ("/kra-handler/api/customers2/x", "There is no method to handle POST /kra-handler/api/customers2/x"),
        ("/v2/kra-handler/api/onboardings/repush", "Cannot POST /v2/kra-handler/api/onboardings/repush"),
    ],
)
def test_signzy_route_misses_answer_as_loopback_does(urls, path, message):
    response = requests.post(urls["SIGNZY_BASE_URL"] + path, json={}, timeout=TIMEOUT)
    assert assert_json(response, 404)["error"] == {"statusCode": 404, "name": "Error", "message": message}
