"""`make smoke`: SigV4-signed probes that a deployed stack must refuse on its own, against a double of API Gateway."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local import smoke
from local import template as cfn

SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=testing/\d{8}/eu-west-1/execute-api/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]*\bhost\b[a-z0-9;-]*, Signature=[0-9a-f]{64}"
)


class Gateway(BaseHTTPRequestHandler):
    """Plays a deployed stack: IAM refuses what is not SigV4-signed for execute-api; the functions refuse the rest."""

    broken_route = ""  # a route answering 500 configuration_error, as before its secret is set
    enforce_iam = True
    seen: list[tuple[str, str, str | None]]

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization")
        self.seen.append((self.command, self.path, authorization))
        webhook = "/connectfi/webhooks/" in self.path
        if self.enforce_iam and not webhook and not (authorization and SIGNATURE.fullmatch(authorization)):
            return self._send(403, "not_authenticated", correlation=None)
        if self.path.startswith(self.broken_route or "\0"):
            return self._send(500, "configuration_error")
        if webhook:
            return self._send(401, "invalid_webhook_token")
        if self.command == "GET":
            return self._send(404, "application_not_found")
        return self._send(400 if body == b"[]" else 200, "validation_error")

    def _send(self, status: int, code: str, *, correlation: str | None = "echo") -> None:
        payload = json.dumps({"error": {"code": code}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if correlation:
            self.send_header("X-Correlation-Id", self.headers["X-Correlation-Id"])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, type[Gateway]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the credentials the signature must name
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    handler = type("Handler", (Gateway,), {"seen": []})
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
    assert code == 0, capsys.readouterr()
    routes = {(method, re.sub(r"smoke_?[0-9a-f]{20}", "*", path)) for method, path, _ in handler.seen}
    assert routes == {
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
    assert len(unsigned) == 2 and any("/webhooks/" in path for path in unsigned)


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
    assert "expected 403 not_authenticated, got 400 validation_error" in capsys.readouterr().err


def test_given_no_iam_when_smoke_tested_then_only_the_unsigned_probe_is_skipped(gateway):
    url, handler = gateway
    # Given the local stack's relaxation (--no-iam), When the smoke test runs, Then every signed route is still signed
    assert smoke.main(["dev", "--api-url", url, "--region", "eu-west-1", "--no-iam"]) == 0
    assert len(handler.seen) == sum(len(spec.api_events) for spec in cfn.functions().values())  # every route
    assert all(authorization for _, path, authorization in handler.seen if "/webhooks/" not in path)
