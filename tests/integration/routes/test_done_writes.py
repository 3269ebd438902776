"""A write the provider answered 2xx is done, whatever its body: a retry under the same Idempotency-Key never sends
it again, even when the gateway could not read that body (JSON cut short, an HTML page with status 200). Nor a
write answered with a redirect, which is never followed."""

from __future__ import annotations

import json

import pytest

from project import template as cfn
from tests.integration.routes.test_connectfi import LOGIN as CONNECTFI_LOGIN
from tests.integration.routes.test_connectfi import connectfi_error, login_reply
from tests.integration.routes.test_connectfi_stepup import DOCUMENT_REQUEST, DOCUMENTS_FN, GENERATE, UPLOAD, generated
from tests.integration.routes.test_idempotency_keys import key

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


def test_a_failure_after_the_write_was_done_is_stored_and_answered_again_under_the_key(gateway):
    # Given connectFi generated a document, then refused its upload (a failure after the write)
    gateway.provider.reply(CONNECTFI_LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(400, "documentNotFound"))

    # When the caller sends the request again under its key
    first = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key("documents-9"))
    again = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key("documents-9"))

    # Then it gets the same answer, every field of it (the document to upload to), and nothing is sent again
    def without_correlation(answer) -> dict:
        return {name: value for name, value in answer.error.items() if name != "correlationId"}

    assert (first.status, first.error["code"]) == (502, "provider_error")
    assert again.status == first.status and without_correlation(again) == without_correlation(first)
    assert [d["type"] for d in again.error["details"]] == ["upload_pending"]
    assert len(gateway.provider.requests(GENERATE)) == len(gateway.provider.requests(UPLOAD)) == 1
    # and the second says it is the stored answer, as a replayed success does
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
