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
