"""A write the provider answered 2xx is done, whatever its body: a retry under the same Idempotency-Key never sends
it again, even when the gateway could not read that body (JSON cut short, an HTML page with status 200). Nor a
write answered with a redirect, which is never followed."""

from __future__ import annotations

import json

import pytest

from project import template as cfn

# Each keyed write route, the sandbox operation that does the write, and the route's advice for an unknown outcome
KEYED_WRITES = [
    ("SignzyRepushFunction", "signzy", "repush", "KRA status"),
    ("CdpOnboardingFunction", "cdp", "onboarding", "/cdp/customers/lookup"),
    ("ConnectFiIdentificationFunction", "connectfi", "identification", "connectFi"),
    ("ConnectFiDocumentsFunction", "connectfi", "document_generate", "documentId"),
    ("ConnectFiUpdateFunction", "connectfi", "update", "/connectfi/status"),
]
UNREADABLE_200 = {"truncated": {}, "html": {"status": 200}}


def sample_body(function: str) -> dict:
    """The function's sample event's body: a request the gateway accepts."""
    return json.loads(json.loads((cfn.ROOT / "events" / f"{function}.json").read_text())["body"])


@pytest.mark.parametrize("fault", sorted(UNREADABLE_200))
@pytest.mark.parametrize(("function", "provider", "operation", "advice"), KEYED_WRITES)
def test_a_write_answered_200_with_an_unreadable_body_is_never_sent_again_under_its_key(
    sandboxed_gateway, function, provider, operation, advice, fault
):
    sandbox = sandboxed_gateway.provider
    body, key = sample_body(function), [("Idempotency-Key", f"done-{operation}-{fault}")]
    # Given the provider did the write and answered 200, with a body the gateway cannot read
    sandbox.inject_fault(provider, operation, fault, **UNREADABLE_200[fault])

    first = sandboxed_gateway.call(function, body, headers=key)
    again = sandboxed_gateway.call(function, body, headers=key)

    # Then the first answer says the provider answered something unusable, and the retry under the same key is
    # told the outcome is unknown, with how to find it out: the write reached the provider once
    assert (first.status, first.error["code"]) == (502, "provider_bad_response")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert advice in again.error["details"][0]["issue"]
    assert sandbox.call_count(provider, operation) == 1


@pytest.mark.parametrize("status", [302, 303, 307])
@pytest.mark.parametrize(("function", "provider", "operation", "advice"), KEYED_WRITES)
def test_a_redirected_write_is_never_followed_nor_sent_again_under_its_key(
    sandboxed_gateway, function, provider, operation, advice, status
):
    sandbox = sandboxed_gateway.provider
    body, key = sample_body(function), [("Idempotency-Key", f"redirected-{operation}-{status}")]
    # Given the provider's address answers the write with a redirect (a 303 says the POST was done)
    sandbox.inject_fault(provider, operation, "redirect", status=status)

    first = sandboxed_gateway.call(function, body, headers=key)
    again = sandboxed_gateway.call(function, body, headers=key)

    # Then the redirect is the provider failing, and the write, sent once, is never sent again under its key
    assert (first.status, first.error["code"], first.error["providerStatus"]) == (502, "provider_bad_response", status)
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert advice in again.error["details"][0]["issue"]
    assert sandbox.call_count(provider, operation) == 1
