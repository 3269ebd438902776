"""Tests for the local provider sandbox (local/sandbox.py), driven over HTTP with requests."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

LOCAL_DIR = Path(__file__).resolve().parents[2] / "local"
sys.path.insert(0, str(LOCAL_DIR))

from sandbox import ProviderSandbox  # noqa: E402

CREDENTIALS = json.loads((LOCAL_DIR / "secrets.local.json").read_text(encoding="utf-8"))
SLOW_SECONDS = 2
TIMEOUT = 5

CLADFY = CREDENTIALS["cladfy"]
SIGNZY = CREDENTIALS["signzy"]
CDP = CREDENTIALS["cdp"]
CONNECTFI = CREDENTIALS["connectfi"]

OID = "65a1b2c3d4e5f60718293a4b"  # a well-formed Signzy onboardingId
CDP_TOKEN_PATH = "/auth/realms/cdp/protocol/openid-connect/token"
CDP_LOOKUP_PATH = "/caas/api/v2/customer/validate"
CDP_ONBOARDING_PATH = "/caas-lcm/api/v1/CAAS/onBoarding/customer"


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    box = ProviderSandbox(CREDENTIALS, slow_seconds=SLOW_SECONDS, quiet=True).start()
    yield box
    box.stop()


@pytest.fixture
def make_sandbox():
    """Private sandboxes for tests that change global state (forget, reset, expiry)."""
    started = []

    def make(**kwargs):
        box = ProviderSandbox(CREDENTIALS, quiet=True, **kwargs).start()
        started.append(box)
        return box

    yield make
    for box in started:
        box.stop()


@pytest.fixture
def urls(sandbox):
    return sandbox.base_urls()


class WebhookReceiver:
    def __init__(self):
        self.bodies = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._changed:
                    receiver.bodies.append((self.path, self.headers.get("Content-Type"), body))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.bodies) < count and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            return list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    hook = WebhookReceiver()
    yield hook
    hook.close()


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def cladfy(urls, pin, *, auth=None, timeout=TIMEOUT, **kwargs):
    headers = {"Authorization": auth or basic(CLADFY["clientId"], CLADFY["secretKey"])}
    kwargs.setdefault("json", {"pinnumber": pin})
    return requests.post(urls["CLADFY_BASE_URL"] + "/krapin", headers=headers, timeout=timeout, **kwargs)


def signzy_login(urls, username=SIGNZY["username"], password=SIGNZY["password"]):
    return requests.post(
        urls["SIGNZY_BASE_URL"] + "/kra-handler/api/customers/login",
        json={"username": username, "password": password},
        timeout=TIMEOUT,
    )


def signzy_token(urls):
    return signzy_login(urls).json()["id"]


def repush(urls, onboarding_id, token, *, bearer=False, timeout=TIMEOUT):
    headers = {"Authorization": f"Bearer {token}" if bearer else token}
    return requests.post(
        urls["SIGNZY_BASE_URL"] + "/kra-handler/api/onboardings/repush",
        json={"onboardingId": onboarding_id},
        headers=headers,
        timeout=timeout,
    )


def cdp_password_form(**overrides):
    form = {
        "grant_type": "password",
        "scope": CDP["scope"],
        "client_id": CDP["clientId"],
        "client_secret": CDP["clientSecret"],
        "username": CDP["username"],
        "password": CDP["password"],
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def cdp_token_call(urls, form):
    return requests.post(urls["CDP_BASE_URL"] + CDP_TOKEN_PATH, data=form, timeout=TIMEOUT)


def cdp_tokens(urls):
    response = cdp_token_call(urls, cdp_password_form())
    assert response.status_code == 200, response.text
    return response.json()


def cdp_refresh(urls, refresh_token):
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CDP["clientId"],
        "client_secret": CDP["clientSecret"],
    }
    return cdp_token_call(urls, form)


def cdp_api(urls, path, body, token, timeout=TIMEOUT):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(urls["CDP_BASE_URL"] + path, json=body, headers=headers, timeout=timeout)


def onboarding_body(id_number="784199554586091", **overrides):
    body = {
        "channel": "WEB",
        "first_name": "TEST",
        "middle_name": "SANDBOX",
        "last_name": "PERSON",
        "nationality": "IN",
        "date_of_birth": "1995-07-28",
        "primary_mobile_number": "+971500000001",
        "email_id": "test.person@example.com",
        "political_exposed_person": False,
        "id_details": [{"id_type": 4, "id_number": id_number, "issued_country": "AE"}],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def connectfi_login(urls, login=CONNECTFI["login"], password=CONNECTFI["password"]):
    return requests.post(
        urls["CONNECTFI_BASE_URL"] + "/auth/get-token",
        json={"user": {"login": login, "password": password}},
        timeout=TIMEOUT,
    )


def connectfi_token(urls):
    return connectfi_login(urls).json()["data"]["token"]


def connectfi(urls, path, body, token, timeout=TIMEOUT):
    headers = {"x-connectfi-token": token} if token else {}
    return requests.post(urls["CONNECTFI_BASE_URL"] + path, json=body, headers=headers, timeout=timeout)


def assert_json(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def assert_html(response, status):
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    with pytest.raises(ValueError):
        response.json()


# --------------------------------------------------------------------------------------------
# server, admin endpoints, CLI
# --------------------------------------------------------------------------------------------


def test_base_urls_and_health(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.base_urls() == {
        "CONNECTFI_BASE_URL": sandbox.url + "/connectfi",
        "SIGNZY_BASE_URL": sandbox.url + "/signzy",
        "CLADFY_BASE_URL": sandbox.url + "/cladfy/api/v1",
        "CDP_BASE_URL": sandbox.url + "/cdp",
    }
    assert assert_json(requests.get(sandbox.url + "/_sandbox/health", timeout=TIMEOUT), 200) == {"status": "ok"}


def test_calls_are_counted_and_exposed(sandbox, urls):
    before = sandbox.call_count("cladfy", "krapin")
    cladfy(urls, "A004416331M")
    cladfy(urls, "A004416331M", auth="Basic nope")  # rejected calls count too
    assert sandbox.call_count("cladfy", "krapin") == before + 2
    assert sandbox.calls[("cladfy", "krapin")] == before + 2
    counters = assert_json(requests.get(sandbox.url + "/_sandbox/calls", timeout=TIMEOUT), 200)
    assert counters["cladfy"]["krapin"] == before + 2


def test_unknown_paths_use_each_providers_404(urls, sandbox):
    assert assert_json(requests.post(urls["CLADFY_BASE_URL"] + "/nope", timeout=TIMEOUT), 404)["code"] == 1101
    assert (
        assert_json(requests.post(urls["SIGNZY_BASE_URL"] + "/nope", timeout=TIMEOUT), 404)["error"]["statusCode"]
        == 404
    )
    assert assert_json(requests.post(urls["CDP_BASE_URL"] + "/nope", timeout=TIMEOUT), 404)["error"] == "Not Found"
    assert assert_json(requests.post(urls["CONNECTFI_BASE_URL"] + "/nope", timeout=TIMEOUT), 404)["code"] == "notFound"
    assert assert_json(requests.get(sandbox.url + "/elsewhere", timeout=TIMEOUT), 404)


def test_forget_tokens_invalidates_every_provider(make_sandbox):
    box = make_sandbox()
    urls = box.base_urls()
    signzy, cdp, cfi = signzy_token(urls), cdp_tokens(urls), connectfi_token(urls)
    box.forget_tokens()
    assert repush(urls, OID, signzy).status_code == 401
    assert (
        cdp_api(urls, CDP_LOOKUP_PATH, {"idNumber": "784199554586091", "idType": "4"}, cdp["access_token"]).status_code
        == 401
    )
    assert cdp_refresh(urls, cdp["refresh_token"]).json()["error"] == "invalid_grant"
    assert connectfi(urls, "/akepa/status", {"customerId": "c1", "applicationId": "a1"}, cfi).status_code == 401

    fresh = signzy_token(urls)
    assert requests.post(box.url + "/_sandbox/forget-tokens", timeout=TIMEOUT).json() == {"forgotten": True}
    assert repush(urls, OID, fresh).status_code == 401


def test_reset_clears_counters_and_state(make_sandbox):
    box = make_sandbox()
    urls = box.base_urls()
    token = connectfi_token(urls)
    created = connectfi(urls, "/akepa/identification", {"customerId": "cstap_a", "reference": "R1"}, token).json()
    assert box.call_count("connectfi", "token") == 1
    assert requests.post(box.url + "/_sandbox/reset", timeout=TIMEOUT).json() == {"reset": True}
    assert requests.get(box.url + "/_sandbox/calls", timeout=TIMEOUT).json()["connectfi"] == {}
    token = connectfi_token(urls)
    status = connectfi(
        urls, "/akepa/status", {"customerId": "cstap_a", "applicationId": created["data"]["applicationId"]}, token
    )
    assert assert_json(status, 404)["code"] == "applicationNotFound"


def test_stop_closes_the_port(make_sandbox):
    box = make_sandbox()
    url = box.url
    box.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_sandbox/health", timeout=1)


def test_logs_carry_only_method_path_and_status(capfd):
    box = ProviderSandbox(CREDENTIALS).start()  # not quiet
    try:
        urls = box.base_urls()
        token = signzy_token(urls)
        cladfy(urls, "A004416331M")
        repush(urls, OID, token)
    finally:
        box.stop()
    logged = capfd.readouterr().err
    assert "POST /cladfy/api/v1/krapin 200" in logged
    assert "POST /signzy/kra-handler/api/onboardings/repush 200" in logged
    for secret in ("A004416331M", token, OID, SIGNZY["password"], CLADFY["secretKey"]):
        assert secret not in logged


def test_cli_prints_ready_line_and_stops_on_sigterm(tmp_path):
    process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [
            sys.executable,
            str(LOCAL_DIR / "sandbox.py"),
            "--port",
            "0",
            "--quiet",
            "--secrets",
            str(LOCAL_DIR / "secrets.local.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert requests.get(url + "/_sandbox/health", timeout=TIMEOUT).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


# --------------------------------------------------------------------------------------------
# Cladfy
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Signzy
# --------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("onboarding_id", ["65xxxxxx9b", "1234", "", 42])
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
    assert assert_json(repush(urls, "000000000000000000000422", token), 422)["error"]["statusCode"] == 422
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


# --------------------------------------------------------------------------------------------
# CDP
# --------------------------------------------------------------------------------------------


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


def test_cdp_lookup_invalid_input_and_transport_failures(urls, cdp_access):
    for body in ({"idNumber": "1" * 31, "idType": "4"}, {"idNumber": "784"}, {}):
        assert assert_json(cdp_api(urls, CDP_LOOKUP_PATH, body, cdp_access), 200)["errorCode"] == 40001
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


def test_cdp_onboarding_missing_mandatory_fields(urls, cdp_access):
    body = onboarding_body(first_name="  ", id_details=[])
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 400)
    assert reply["error_code"] == 40002 and reply["status"] == "failure"
    assert reply["details"] == {"firstName": "Invalid first name", "idDetails": "Invalid id details"}

    id_detail = {"id_type": 4, "id_front": {"content_type": "image/jpeg"}}
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body(id_details=[id_detail]), cdp_access), 400)
    assert reply["details"] == {
        "idDetails[0].idNumber": "Invalid id number",
        "idDetails[0].idFront.base64Data": "Invalid base64 data",
    }


def test_cdp_onboarding_needs_nothing_else(urls, cdp_access):
    body = {"first_name": "TEST", "id_details": [{"id_type": 4, "id_number": "784199554586091"}]}
    assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nationality": "INN"}, " Invalid Nationality INN!"),
        ({"country_of_residence": "ZZ"}, " Invalid Country Of Residence ZZ!"),
        ({"address_list": [{"address_type_id": "1", "country": "UAE"}]}, " Invalid Country UAE!"),
    ],
)
def test_cdp_onboarding_rules_on_its_own_master_data(urls, cdp_access, overrides, message):
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body(**overrides), cdp_access), 400)
    assert (reply["error_code"], reply["status_code"], reply["message"]) == (45053, 406, message)


def test_cdp_master_data_knows_codes_real_documents_carry(urls, cdp_access):
    body = onboarding_body(nationality="XK", country_of_birth="XK")
    assert assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, body, cdp_access), 200)["status"] == "success"


def test_cdp_onboarding_transport_failures(urls, cdp_access):
    assert_html(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body("784000000000502"), cdp_access), 502)
    with pytest.raises(requests.Timeout):
        cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body("784000000000504"), cdp_access, timeout=0.5)


# --------------------------------------------------------------------------------------------
# connectFi
# --------------------------------------------------------------------------------------------


def test_connectfi_login(urls):
    body = assert_json(connectfi_login(urls), 200)
    assert body["code"] == "0" and set(body["data"]) == {"token", "dtsExpireAt"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["data"]["dtsExpireAt"])
    expires = datetime.strptime(body["data"]["dtsExpireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600


def test_connectfi_login_failures(urls):
    unauthorized = {"code": "unauthorized", "message": "Authentication error"}
    assert assert_json(connectfi_login(urls, password="wrong"), 401) == unauthorized
    assert assert_json(connectfi_login(urls, login="someone_else"), 401) == unauthorized
    response = requests.post(urls["CONNECTFI_BASE_URL"] + "/auth/get-token", json={"login": "x"}, timeout=TIMEOUT)
    assert assert_json(response, 400)["code"] == "requestValidateError"


def test_connectfi_token_expires(make_sandbox):
    urls = make_sandbox(connectfi_token_ttl=1).base_urls()
    token = connectfi_token(urls)
    assert (
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_a", "reference": "R1"}, token).status_code == 200
    )
    time.sleep(1.1)
    response = connectfi(urls, "/akepa/identification", {"customerId": "cstap_a", "reference": "R1"}, token)
    assert assert_json(response, 401) == {"code": "unauthorized", "message": "Authentication error"}


@pytest.fixture(scope="module")
def cfi_token(sandbox):
    return connectfi_token(sandbox.base_urls())


@pytest.mark.parametrize("token", [None, "unknown"])
def test_connectfi_calls_require_a_token(urls, token):
    for path in ("/akepa/identification", "/akepa/status"):
        response = connectfi(urls, path, {"customerId": "cstap_a", "reference": "R1"}, token)
        assert assert_json(response, 401) == {"code": "unauthorized", "message": "Authentication error"}


@pytest.mark.parametrize("webhook_field", ["webhookUrl", "webhookURL", None])
def test_connectfi_identification_and_status(urls, cfi_token, webhook_field):
    request = {"customerId": "cstap_6reGTr3k8vpAu8uFV7EdiN", "reference": "extRefApp100", "syncMode": None}
    if webhook_field:
        request[webhook_field] = "https://your_webhook_url/extRefApp100"
    body = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)
    assert body["code"] == "0" and re.fullmatch(r"[0-9a-f]{32}", body["requestId"])
    data = body["data"]
    assert re.fullmatch(r"iapp_[0-9A-Za-z]+", data["applicationId"]) and len(data["applicationId"]) <= 36
    assert data["customerId"] == request["customerId"] and data["reference"] == "extRefApp100"
    assert data["status"] == "pending_step_up" and data["outcome"] is None
    assert data["entityApplications"] == [
        {"entityId": request["customerId"], "isCustomer": True, "status": "pending_step_up", "outcome": None}
    ]
    status_request = {"customerId": request["customerId"], "applicationId": data["applicationId"]}
    status = assert_json(connectfi(urls, "/akepa/status", status_request, cfi_token), 200)
    assert status["data"] == data and status["requestId"] != body["requestId"]


def test_connectfi_business_customer_has_two_entities(urls, cfi_token):
    body = connectfi(
        urls, "/akepa/identification", {"customerId": "cstab_7BX5DO49J48VeWKsJ6gWNb", "reference": "B1"}, cfi_token
    ).json()
    entities = body["data"]["entityApplications"]
    assert [entity["isCustomer"] for entity in entities] == [False, True]
    assert entities[1] == {
        "entityId": "cstab_7BX5DO49J48VeWKsJ6gWNb",
        "isCustomer": True,
        "status": "completed",
        "outcome": "approved",
    }


def test_connectfi_rejects_additional_properties(urls, cfi_token):
    request = {"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/y", "extra": 1}
    body = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 400)
    assert set(body) == {"requestId", "code", "subCode", "context", "message"}
    assert body["code"] == "requestValidateError" and body["message"] == "must NOT have additional properties"
    assert body["context"] == [
        {
            "instancePath": "",
            "schemaPath": "#/additionalProperties",
            "keyword": "additionalProperties",
            "params": {"additionalProperty": "extra"},
            "message": "must NOT have additional properties",
        }
    ]


@pytest.mark.parametrize(
    ("request_body", "keyword", "instance_path"),
    [
        ({"customerId": "cstap_a"}, "required", ""),
        ({"customerId": "cstap_a", "reference": "has-dash"}, "pattern", "/reference"),
        ({"customerId": "c" * 37, "reference": "R1"}, "maxLength", "/customerId"),
        ({"customerId": "cstap_a", "reference": "R1", "syncMode": "yes"}, "type", "/syncMode"),
        ({"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/<script>"}, "pattern", "/webhookUrl"),
        # JavaScript's `.` matches no line terminator, and its `$` only the very end
        ({"customerId": "cstap_a", "reference": "R1", "webhookUrl": "https://x/\na"}, "pattern", "/webhookUrl"),
        ({"customerId": "cstap_a", "reference": "R1", "webhookURL": "https://x/\u2028"}, "pattern", "/webhookURL"),
        ({"customerId": "cstap_a", "reference": "R1\n"}, "pattern", "/reference"),
        (["not", "an", "object"], "type", ""),
    ],
)
def test_connectfi_schema_errors(urls, cfi_token, request_body, keyword, instance_path):
    body = assert_json(connectfi(urls, "/akepa/identification", request_body, cfi_token), 400)
    assert body["code"] == "requestValidateError"
    assert [(error["keyword"], error["instancePath"]) for error in body["context"]] == [(keyword, instance_path)]
    assert body["message"] == body["context"][0]["message"]


def test_connectfi_status_not_found(urls, cfi_token):
    created = connectfi(
        urls, "/akepa/identification", {"customerId": "cstap_owner", "reference": "R1"}, cfi_token
    ).json()
    for request in (
        {"customerId": "cstap_owner", "applicationId": "iapp_doesnotexist"},
        {"customerId": "cstap_other", "applicationId": created["data"]["applicationId"]},
    ):
        body = assert_json(connectfi(urls, "/akepa/status", request, cfi_token), 404)
        assert body["code"] == "applicationNotFound" and set(body) == {
            "requestId",
            "code",
            "subCode",
            "context",
            "message",
        }


def test_connectfi_magic_customers(urls, cfi_token):
    body = assert_json(  # HTTP 400, as in connectFi's public error table
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_notfound", "reference": "R1"}, cfi_token), 400
    )
    assert body["code"] == "customerNotFound"
    assert_html(
        connectfi(urls, "/akepa/identification", {"customerId": "cstap_html500", "reference": "R1"}, cfi_token), 500
    )
    with pytest.raises(requests.Timeout):
        connectfi(
            urls, "/akepa/identification", {"customerId": "cstap_slow", "reference": "R1"}, cfi_token, timeout=0.5
        )


def test_connectfi_async_review_sends_one_webhook(urls, cfi_token, receiver, sandbox):
    sent_before = sandbox.call_count("connectfi", "webhook")
    request = {"customerId": "cstap_async", "reference": "ASYNC001", "webhookUrl": receiver.url("/hook/secret-token")}
    created = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)["data"]
    assert created["status"] == "waiting_review" and created["outcome"] is None

    deliveries = receiver.wait_for(1, timeout=3)
    assert len(deliveries) == 1
    path, content_type, raw = deliveries[0]
    assert path == "/hook/secret-token" and content_type == "application/json"
    webhook = json.loads(raw)
    assert webhook["code"] == "0" and webhook["requestId"]
    assert webhook["data"]["applicationId"] == created["applicationId"]
    assert webhook["data"]["status"] == "completed" and webhook["data"]["outcome"] == "Approved"
    assert all(e["status"] == "completed" and e["outcome"] == "approved" for e in webhook["data"]["entityApplications"])

    status = connectfi(
        urls, "/akepa/status", {"customerId": "cstap_async", "applicationId": created["applicationId"]}, cfi_token
    ).json()
    assert status["data"] == webhook["data"]
    time.sleep(0.3)
    assert len(receiver.bodies) == 1
    assert sandbox.call_count("connectfi", "webhook") == sent_before + 1


def test_connectfi_asyncdup_sends_the_same_webhook_twice(urls, cfi_token, receiver):
    request = {"customerId": "cstap_dup", "reference": "ASYNCDUP001", "webhookURL": receiver.url("/hook")}
    created = assert_json(connectfi(urls, "/akepa/identification", request, cfi_token), 200)["data"]
    deliveries = receiver.wait_for(2, timeout=3)
    assert len(deliveries) == 2
    assert deliveries[0][2] == deliveries[1][2]
    assert json.loads(deliveries[0][2])["data"]["applicationId"] == created["applicationId"]


def test_connectfi_asyncdeny_completes_denied(make_sandbox, receiver):
    urls = make_sandbox(webhook_delay=0.1).base_urls()
    request = {"customerId": "cstap_deny", "reference": "ASYNCDENY1", "webhookUrl": receiver.url("/hook")}
    connectfi(urls, "/akepa/identification", request, connectfi_token(urls))
    data = json.loads(receiver.wait_for(1, timeout=3)[0][2])["data"]
    assert data["outcome"] == "Denied" and data["entityApplications"][0]["outcome"] == "denied"


def test_connectfi_webhook_failures_are_ignored(make_sandbox):
    box = make_sandbox(webhook_delay=0.1)
    urls = box.base_urls()
    token = connectfi_token(urls)
    request = {"customerId": "cstap_x", "reference": "ASYNC2", "webhookUrl": "http://127.0.0.1:9/unreachable"}
    created = connectfi(urls, "/akepa/identification", request, token).json()["data"]
    deadline = time.monotonic() + 3
    while box.call_count("connectfi", "webhook") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert box.call_count("connectfi", "webhook") == 1
    status = connectfi(
        urls, "/akepa/status", {"customerId": "cstap_x", "applicationId": created["applicationId"]}, token
    )
    assert status.json()["data"]["status"] == "completed"


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


def test_cdp_onboarding_with_an_id_that_is_not_an_object_is_40002(urls, cdp_access):
    reply = assert_json(cdp_api(urls, CDP_ONBOARDING_PATH, onboarding_body(id_details=["x"]), cdp_access), 400)
    assert reply["error_code"] == 40002
    assert reply["details"] == {"idDetails[0].idType": "Invalid id type", "idDetails[0].idNumber": "Invalid id number"}


def test_the_cut_fault_breaks_an_answer_off_mid_body(make_sandbox):
    box = make_sandbox()
    box.inject_fault("cladfy", "krapin", "cut")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        cladfy(box.base_urls(), "A004416331M").json()
