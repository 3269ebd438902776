"""Deployed, a caller's webhook URL must be https even on an allowed host (the callbacks carry customer data)."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import RequestValidationError
from kyc_gateway.providers.connectfi.identification import Identification, IdentificationRequest
from kyc_gateway.settings import get_settings


@pytest.fixture(autouse=True)
def deployed(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", "hooks.partner.example")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def identification(url: str) -> Identification:
    body = IdentificationRequest(customerId="cstap_a", reference="R1", webhookUrl=url)
    return Identification.checked(body, "https://kyc.example.com")


@pytest.mark.parametrize("url", ["https://hooks.partner.example/kyc", "https://kyc.example.com/hook"])
def test_an_https_url_on_an_allowed_host_passes(url):
    assert identification(url).body.webhookUrl == url


@pytest.mark.parametrize("url", ["http://hooks.partner.example/kyc", "http://kyc.example.com/hook"])
def test_plain_http_is_refused_outside_the_local_stack(url):
    with pytest.raises(RequestValidationError) as refused:
        identification(url)
    assert refused.value.details == [
        {
            "field": "webhookUrl",
            "issue": "must be https (http: local stack) on the gateway's own host or one of CONNECTFI_WEBHOOK_HOSTS",
            "type": "host_not_allowed",
        }
    ]


@pytest.mark.parametrize(
    ("environment", "own", "url", "allowed"),
    [
        ("local", "http://127.0.0.1:3000", "http://localhost:9999/hook", True),  # its machine, by its other name
        ("local", "http://localhost:3000", "http://127.0.0.1/hook", True),
        ("local", "http://127.0.0.1:3000", "http://LOCALHOST./hook", True),
        ("local", "http://127.0.0.1:3000", "http://127.0.0.2/hook", False),  # another address, though a loopback
        ("local", "http://gateway.test:3000", "http://localhost/hook", False),  # a local API on another host
        ("prod", "http://127.0.0.1:3000", "https://localhost/hook", False),  # deployed: never this machine's name
    ],
)
def test_on_the_local_stack_either_name_of_its_own_machine_is_its_own_host(monkeypatch, environment, own, url, allowed):
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", "")
    get_settings.cache_clear()
    body = IdentificationRequest(customerId="cstap_a", reference="R1", webhookUrl=url)

    try:
        checked = Identification.checked(body, own)
    except RequestValidationError:
        checked = None

    assert (checked is not None) is allowed
