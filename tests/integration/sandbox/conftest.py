"""Shared fixtures and HTTP helpers for the provider sandbox tests (local/sandbox/), which drive it over HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from local.sandbox import ProviderSandbox

ROOT = Path(__file__).resolve().parents[3]
LOCAL_DIR = ROOT / "local"
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


@pytest.fixture(scope="module")
def sandbox():
    """One sandbox per test module, slow answers cut to SLOW_SECONDS (it stands in for tests/conftest.py's)."""
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


def repush(urls, onboarding_id, token, *, bearer=False, field="onboardingId", timeout=TIMEOUT):
    headers = {"Authorization": f"Bearer {token}" if bearer else token}
    return requests.post(
        urls["SIGNZY_BASE_URL"] + "/kra-handler/api/onboardings/repush",
        json={field: onboarding_id},
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
