"""`make smoke`: SigV4-signed probes that a deployed stack must refuse on its own, and one valid read per provider
with test identifiers that it must serve; against a double of API Gateway, and against the local stack (the real
handlers behind the local API, with the provider sandbox)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

# The functions' logger, created now: its handler writes to pytest's session-long capture, not to the stream of the
# first test's capsys (closed after it), and the functions' log lines stay out of the smoke test's output.
import kyc_gateway.observability  # noqa: F401
from local.api_server import ApiServer, routes_of
from local.functions import cold_start, invoke
from operations import smoke
from project import template as cfn
from tests.conftest import deploy

SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=testing/\d{8}/eu-west-1/execute-api/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]*\bhost\b[a-z0-9;-]*, Signature=[0-9a-f]{64}"
)
IDENTIFIERS = """
[dev.cladfy]
pinnumber = "A004416331M"
[dev.cdp]
idNumber = "784000000000001"
idType = "4"
[dev.connectfi]
customerId = "cstap_smokeTest"
applicationId = "iapp_smokeTest"
"""
NEVER_PRINTED = ("A004416331M", "784000000000001", "cstap_smokeTest", "iapp_smokeTest")  # (not idType "4")


def success(path: str, asked: dict) -> dict:
    """Each provider's answer to a valid read, as the gateway passes it through (docs/providers/*.md)."""
    if path.endswith("/cladfy/krapin"):
        return {"success": True, "response_code": 200, "data": {"PINNo": asked["pinnumber"]}, "request_id": "r1"}
    if path.endswith("/cdp/customers/lookup"):
        return {"status": "success", "statusCode": 200, "data": {"ecrn": "1"}}
    return {"code": "0", "data": {"applicationId": asked["applicationId"], "status": "pending_step_up"}}


def reads(handler: type[Gateway]) -> dict[str, dict]:
    """The valid requests the stack was sent (a JSON object with fields), by path."""
    sent = zip(handler.seen, handler.bodies, strict=True)
    return {path: json.loads(body) for (_, path, _), body in sent if body not in (b"", b"[]", b"{}")}


class Gateway(BaseHTTPRequestHandler):
    """Plays a deployed stack: IAM refuses what is not SigV4-signed for execute-api; the functions refuse the rest,
    and serve a valid read with the provider's success body."""

    broken_route = ""  # a route answering 500 configuration_error, as before its secret is set
    enforce_iam = True
    other_application = False  # connectFi's status answers about another application than the one asked
    seen: list[tuple[str, str, str | None]]
    bodies: list[bytes]

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization")
        self.seen.append((self.command, self.path, authorization))
        self.bodies.append(body)
        webhook = "/connectfi/webhooks/" in self.path
        if self.enforce_iam and not webhook and not (authorization and SIGNATURE.fullmatch(authorization)):
            return self._send(401, "not_authenticated", correlation=None)
        if self.path.startswith(self.broken_route or "\0"):
            return self._send(500, "configuration_error")
        if webhook:
            return self._send(401, "invalid_webhook_token")
        if self.command == "GET":
            return self._send(404, "application_not_found")
        if body == b"[]":
            return self._send(400, "validation_error")
        asked = json.loads(body) | ({"applicationId": "iapp_another"} if self.other_application else {})
        return self._send(200, payload=success(self.path, asked))

    def _send(
        self, status: int, code: str = "", *, payload: dict | None = None, correlation: str | None = "echo"
    ) -> None:
        payload = json.dumps(payload or {"error": {"code": code}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if correlation:
            self.send_header("X-Correlation-Id", self.headers["X-Correlation-Id"])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(autouse=True)
def identifiers(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Each test reads IDENTIFIERS above as smoke.toml (the local stack's tests, the real one); no SMOKE_IDENTIFIERS."""
    monkeypatch.delenv(smoke.IDENTIFIERS_VARIABLE, raising=False)
    (tmp_path / "smoke.toml").write_text(IDENTIFIERS)
    monkeypatch.setattr(smoke, "IDENTIFIERS", tmp_path / "smoke.toml")


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the credentials the signature must name
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # (restored after ENV=local sets its own)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def gateway(credentials: None) -> Iterator[tuple[str, type[Gateway]]]:
    handler = type("Handler", (Gateway,), {"seen": [], "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/prod", handler
    server.shutdown()
    server.server_close()


def test_given_a_healthy_stack_when_smoke_tested_then_every_route_is_probed_signed_and_it_passes(gateway, capsys):
    url, handler = gateway
    # Given a deployed stack that refuses unsigned calls, When the smoke test runs with IAM checked
    code = smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"])
    # Then it passes, having signed every route but the webhook and sent one unsigned probe
    output = capsys.readouterr()
    assert code == 0, output
    routes = {(method, re.sub(r"smoke_?[0-9a-f]{20}0*", "*", path)) for method, path, _ in handler.seen}
    assert routes == {
        ("POST", "/prod/audit/search"),
        ("POST", "/prod/cdp/customers"),
        ("POST", "/prod/cdp/customers/lookup"),
        ("POST", "/prod/cladfy/krapin"),
        ("GET", "/prod/connectfi/applications/*"),
        ("POST", "/prod/connectfi/documents"),
        ("POST", "/prod/connectfi/identification"),
        ("POST", "/prod/connectfi/status"),
        ("POST", "/prod/connectfi/update"),
        ("POST", "/prod/connectfi/webhooks/*"),
        ("POST", "/prod/signzy/onboardings/repush"),
    }
    unsigned = [path for _, path, authorization in handler.seen if authorization is None]
    assert len(unsigned) == 2 and any("/webhooks/" in path for path in unsigned) and "/prod/audit/search" in unsigned
    # And one valid read per provider, signed, with the environment's test identifiers, which it never prints
    assert reads(handler) == {
        "/prod/cladfy/krapin": {"pinnumber": "A004416331M"},
        "/prod/cdp/customers/lookup": {"idNumber": "784000000000001", "idType": "4"},
        "/prod/connectfi/status": {"customerId": "cstap_smokeTest", "applicationId": "iapp_smokeTest"},
    }
    assert all(authorization for (_, path, authorization) in handler.seen if path in reads(handler))
    assert {f"ok   200 POST {path.removeprefix('/prod')}" for path in reads(handler)} <= set(output.out.splitlines())
    assert not any(value in output.out + output.err for value in NEVER_PRINTED)


def test_given_a_route_failing_when_smoke_tested_then_it_fails_naming_the_route(gateway, capsys):
    url, handler = gateway
    # Given a stack whose webhook secret is not set yet
    handler.broken_route = "/prod/connectfi/webhooks/"
    # When the smoke test runs, Then it fails and says which route answered what
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"]) == 1
    errors = capsys.readouterr().err
    assert "POST /connectfi/webhooks/" in errors and "got 500 configuration_error" in errors


def test_given_a_stack_that_does_not_enforce_iam_when_smoke_tested_then_it_fails(gateway, capsys):
    url, handler = gateway
    # Given a stack where an unsigned request reaches the function (AWS_IAM off)
    handler.enforce_iam = False
    # When the smoke test runs, Then the unsigned probe fails it
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"]) == 1
    assert "expected 401 not_authenticated, got 400 validation_error" in capsys.readouterr().err


def test_given_no_iam_when_smoke_tested_then_only_the_unsigned_probe_is_skipped(gateway):
    url, handler = gateway
    # Given the local stack's relaxation (--no-iam), When the smoke test runs, Then every signed route is still signed
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1", "--no-iam"]) == 0
    routes = sum(len(spec.api_events) for spec in cfn.functions().values())
    assert len(handler.seen) == routes + len(smoke.READ_OPERATIONS)  # every route's refusal, every provider's read
    assert all(authorization for _, path, authorization in handler.seen if "/webhooks/" not in path)


def test_given_a_read_answering_about_another_application_when_smoke_tested_then_it_fails_naming_the_route(
    gateway, capsys
):
    url, handler = gateway
    # Given a stack whose connectFi status answers 200, but not for the application asked
    handler.other_application = True
    # When the smoke test runs, Then it fails on that route alone
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        'POST /connectfi/status: expected 200 connectFi\'s success (code: "0", data of the applicationId asked), '
        "got 200 another body"
    ]


@pytest.mark.parametrize(
    ("configuration", "arguments"),
    [
        pytest.param(IDENTIFIERS.replace("[dev.", "[staging."), [], id="no identifiers for the environment"),
        pytest.param(IDENTIFIERS, ["--refusals-only"], id="--refusals-only"),
    ],
)
def test_given_no_identifiers_or_refusals_only_when_smoke_tested_then_no_provider_is_asked_anything(
    gateway, capsys, tmp_path, configuration, arguments
):
    url, handler = gateway
    (tmp_path / "smoke.toml").write_text(configuration)
    # When the smoke test of dev runs with no test identifiers for dev, or told to send refusals only
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1", *arguments]) == 0
    # Then it sends the refusals only, as before the success probes existed, and says what it skipped
    assert reads(handler) == {}
    assert len(handler.seen) == sum(len(spec.api_events) for spec in cfn.functions().values()) + 1
    skipped = [line for line in capsys.readouterr().out.splitlines() if line.startswith("skip ")]
    assert skipped == (
        []
        if arguments
        else [
            f"skip POST {operation.path}: no test identifiers for dev (smoke.toml)"
            for operation in smoke.READ_OPERATIONS
        ]
    )


def test_smoke_identifiers_replace_a_providers_entry_and_a_partial_entry_is_refused(gateway, capsys, monkeypatch):
    url, handler = gateway
    # Given SMOKE_IDENTIFIERS emptying CDP's entry, When the smoke test runs, Then CDP alone is skipped
    monkeypatch.setenv(smoke.IDENTIFIERS_VARIABLE, json.dumps({"cdp": {"idNumber": "", "idType": ""}}))
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"]) == 0
    assert "skip POST /cdp/customers/lookup: no test identifiers for dev (smoke.toml)" in capsys.readouterr().out
    assert set(reads(handler)) == {"/prod/cladfy/krapin", "/prod/connectfi/status"}
    # Given an entry with only some of its fields, Then nothing is sent and the missing field is named
    handler.seen.clear()
    monkeypatch.setenv(smoke.IDENTIFIERS_VARIABLE, json.dumps({"connectfi": {"customerId": "cstap_smokeTest"}}))
    with pytest.raises(SystemExit) as refused:
        smoke.main(["dev", "--api-url", url, "--region", "eu-west-1"])
    assert refused.value.code == 2 and handler.seen == []
    errors = capsys.readouterr().err
    assert "test identifiers of dev.connectfi: applicationId missing" in errors and "cstap_smokeTest" not in errors


@pytest.fixture
def local_stack(sandboxed_gateway, credentials) -> Iterator[str]:
    """The local stack: the real handlers behind the local API, against the AWS emulator and the provider sandbox."""
    server = ApiServer(routes_of(cfn.functions()), invoke, port=0).start()
    yield server.url
    server.stop()


def test_given_the_local_stack_when_smoke_tested_then_each_provider_serves_its_read_and_is_sent_no_write(
    local_stack, sandbox, monkeypatch, capsys
):
    monkeypatch.setattr(smoke, "IDENTIFIERS", cfn.ROOT / "smoke.toml")  # the [local] values as shipped
    # When `make smoke ENV=local` runs against the local stack
    assert smoke.main(["local", "--api-url", local_stack]) == 0, capsys.readouterr()
    # Then each provider's read-only operation was reached (with its login), and no write
    calls = {"cladfy": {"krapin": 1}, "cdp": {"token": 1, "lookup": 1}, "connectfi": {"token": 1, "status": 1}}
    assert {provider: made for provider, made in sandbox.calls_by_provider().items() if made} == calls
    lines = capsys.readouterr().out.splitlines()
    assert {f"ok   200 POST {operation.path}" for operation in smoke.READ_OPERATIONS} <= set(lines)


def test_given_a_stack_whose_valid_requests_all_fail_when_smoke_tested_then_it_fails_naming_each_read(
    local_stack, physical_ids, monkeypatch, capsys
):
    monkeypatch.setattr(smoke, "IDENTIFIERS", cfn.ROOT / "smoke.toml")
    # Given a stack whose every provider base URL points nowhere (a closed port): it still refuses what it must
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    deploy(physical_ids, nowhere, monkeypatch)
    # When the smoke test runs, Then it fails, naming each provider's read and what it got instead
    assert smoke.main(["local", "--api-url", local_stack]) == 1
    output = capsys.readouterr()
    assert output.err.splitlines() == [
        f"POST {operation.path}: expected 200 {operation.success}, got 502 provider_unavailable"
        for operation in smoke.READ_OPERATIONS
    ]
    assert output.out.count("ok  ") == sum(len(spec.api_events) for spec in cfn.functions().values())


def test_given_a_webhook_secret_the_stack_cannot_read_when_smoke_tested_then_it_fails_naming_the_webhook_route(
    local_stack, physical_ids, secrets_manager, capsys
):
    from kyc_gateway.providers.connectfi.common import WEBHOOK_TOKEN_MIN_LENGTH

    # Given a stack whose connectFi webhook secret is unusable (not its JSON): every real delivery is refused 500
    secrets_manager.put_secret_value(SecretId=physical_ids["ConnectFiWebhookSecret"], SecretString="not json")
    cold_start()
    delivery = requests.post(f"{local_stack}/connectfi/webhooks/{'x' * WEBHOOK_TOKEN_MIN_LENGTH}", json={}, timeout=30)
    assert (delivery.status_code, delivery.json()["error"]["code"]) == (500, "configuration_error")

    # When the smoke test runs, Then it fails on the webhook route: its wrong token, as long as a real one, made the
    # route read the secret (a shorter one is refused unread, which would prove nothing)
    assert smoke.main(["local", "--api-url", local_stack, "--refusals-only"]) == 1
    (failure,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"POST /connectfi/webhooks/smoke[0-9a-f]{20}0+: expected 401 \S+, got 500 configuration_error", failure
    )
    assert smoke.WEBHOOK_PROBE_TOKEN_LENGTH >= WEBHOOK_TOKEN_MIN_LENGTH


def test_without_a_running_local_stack_the_refusal_says_whether_its_state_file_exists(tmp_path, monkeypatch, capsys):
    # Given no state file where the local stack writes it
    state = tmp_path / "stack.json"
    monkeypatch.setenv("LOCAL_STACK_STATE", str(state))

    # When `make smoke ENV=local` runs, Then it stops saying the file does not exist
    with pytest.raises(SystemExit) as refused:
        smoke.main(["local", "--refusals-only"])
    assert refused.value.code == 2
    assert f"no running local stack ({state} does not exist): start `make run`" in capsys.readouterr().err

    # Given a state file a stopped stack left (its process gone), Then it says the file names none that answers
    state.write_text(json.dumps({"pid": 2**22 + 1, "api": "http://127.0.0.1:1", "sandbox": "http://127.0.0.1:1"}))
    with pytest.raises(SystemExit) as refused:
        smoke.main(["local", "--refusals-only"])
    assert f"no running local stack ({state} names none that answers)" in capsys.readouterr().err
