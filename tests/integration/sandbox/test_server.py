"""The provider sandbox as a server: lifecycle, admin endpoints (/_sandbox/*), logs, the CLI, fault injection."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests

from local.sandbox import ProviderSandbox
from tests.integration.sandbox.conftest import (
    CDP_LOOKUP_PATH,
    CLADFY,
    CREDENTIALS,
    LOCAL_DIR,
    OID,
    ROOT,
    SIGNZY,
    TIMEOUT,
    assert_json,
    cdp_api,
    cdp_refresh,
    cdp_tokens,
    cladfy,
    connectfi,
    connectfi_token,
    repush,
    signzy_token,
)
from tests.support.output import Output


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
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "local.sandbox",
            "--port",
            "0",
            "--quiet",
            "--secrets",
            str(LOCAL_DIR / "secrets.local.json"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    try:
        line = Output(process.stdout).wait_for("ready at", timeout=30)
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


def test_the_cut_fault_breaks_an_answer_off_mid_body(make_sandbox):
    box = make_sandbox()
    box.inject_fault("cladfy", "krapin", "cut")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        cladfy(box.base_urls(), "A004416331M").json()


def test_the_docs_python_snippet_runs_as_pasted_at_the_repository_root():
    # Given docs/sandbox.md's Python block, as a reader pastes it into python at the repository's root
    page = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", page.split("From Python", 1)[1], re.DOTALL)

    # When it runs
    result = subprocess.run(  # noqa: S603 - the repository's own page
        [sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    # Then it runs through (its sandbox started, asked and stopped)
    assert result.returncode == 0, result.stderr
