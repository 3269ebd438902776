"""The provider HTTP client: what it sends, and what a request it cannot build does (nothing)."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import RequestNotBuilt
from kyc_gateway.http import ProviderHttp
from kyc_gateway.settings import Settings
from tests.support.fake_provider import Reply

SETTINGS = Settings(PROVIDER_CIRCUIT_FAILURES=2)


def test_a_json_body_is_sent_as_requests_would_send_it(provider):
    provider.reply("/echo", Reply(200, b"{}"))
    http = ProviderHttp("test", provider.url, SETTINGS)

    http.post("/echo", operation="echo", idempotent=True, json_body={"name": "Zoë", "n": 1.5})

    (sent,) = provider.requests()
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == b'{"name": "Zo\\u00eb", "n": 1.5}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}])
def test_a_body_the_gateway_cannot_encode_is_its_own_fault_never_a_provider_call_or_a_breaker_count(provider, value):
    provider.reply("/write", Reply(200, b"{}"))
    http = ProviderHttp("test", provider.url, SETTINGS)

    # Given more unencodable requests than it takes failures to open the circuit
    for _ in range(SETTINGS.circuit_failure_threshold + 1):
        with pytest.raises(RequestNotBuilt) as raised:
            http.post("/write", operation="write", idempotent=False, json_body={"extra": value})
        assert raised.value.gateway_fault and raised.value.provider is None
        assert not raised.value.outcome_unknown  # nothing was sent: nothing to be unsure about

    # Then nothing reached the provider, and its circuit is still closed for a request that can be sent
    assert provider.requests() == []
    assert http.post("/write", operation="write", idempotent=False, json_body={"extra": 1}).status == 200
