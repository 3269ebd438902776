"""The provider HTTP client over TLS, as every provider is reached: an answer read whole, and one sent too slowly
ended at the budget (the watchdog shuts a TLS socket down as it does a plain one)."""

from __future__ import annotations

import ssl
import subprocess
import time

import pytest

from kyc_gateway.errors import ProviderTimeout, ProviderUnavailable
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.support.emf import log_lines
from tests.support.fake_provider import FakeProvider, Reply

OK = Reply(200, b'{"ok": true}')


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key, made for this run."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    key_type = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command = ["openssl", "req", "-x509", *key_type, *subject, "-keyout", key, "-out", cert, "-days", "1"]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed arguments, the system's openssl
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    fake = FakeProvider(tls=context).start()
    yield fake
    fake.stop()


@pytest.fixture
def tls_provider(tls_server, certificate, monkeypatch) -> FakeProvider:
    """A provider double over HTTPS whose certificate the client trusts (as requests reads a CA bundle's path)."""
    tls_server.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    return tls_server


def test_an_answer_over_tls_is_read_whole(tls_provider):
    tls_provider.reply("/op", OK)

    answer = ProviderHttp("test", tls_provider.url, Settings()).post("/op", operation="op", idempotent=False)

    assert tls_provider.url.startswith("https://") and answer.body == {"ok": True}


def test_an_answer_over_tls_sent_slower_than_the_budget_allows_ends_the_call_at_the_budget(tls_provider):
    # Given a provider over TLS that sends its status line and headers a byte every 50 ms, and a budget of 1 s
    tls_provider.reply("/op", Reply(200, b'{"ok": true}', drip=0.05, drip_head=True), OK)
    http = ProviderHttp("test", tls_provider.url, Settings(PROVIDER_BUDGET_SECONDS=1))

    # When the gateway sends it a write
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as raised:
        http.post("/op", operation="op", idempotent=False)

    # Then the call ends as a timeout when the budget does, its outcome unknown; and the next call is answered whole
    assert 0.9 < time.monotonic() - started < 1.5 and raised.value.outcome_unknown
    assert http.post("/op", operation="op", idempotent=False).body == {"ok": True}


def test_a_write_to_a_provider_whose_certificate_is_not_trusted_is_never_sent_and_known_not_sent(
    tls_server, stopped_clock, logs
):
    # Given a provider over TLS whose certificate the client does not trust (no CA bundle names it), and a write
    tls_server.reset()

    with pytest.raises(ProviderUnavailable) as raised:
        ProviderHttp("test", tls_server.url, Settings()).post("/op", operation="op", idempotent=False, json_body={})

    # Then each of the three attempts failed in its handshake: the provider never read the write, and the caller is
    # told so (the write's outcome is known: not done)
    assert [call["status"] for call in log_lines(logs(), "provider call")] == ["unreachable"] * 3
    assert tls_server.requests() == [] and not raised.value.outcome_unknown
