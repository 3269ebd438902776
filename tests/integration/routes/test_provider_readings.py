"""The facts the gateway infers rather than reads in a provider's documents, each played by a strict sandbox in every
reading (docs/sandbox.md#options): the gateway configured for the sandbox's reading succeeds; configured for
another, it meets the failure that provider would answer, mapped as the gateway maps it. Signzy's Authorization
form is played the same way by test_against_sandbox.py's test_signzy_accepting_one_authorization_form."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from local.functions import cold_start
from local.sandbox import ProviderSandbox
from tests.conftest import SECRETS, Gateway, deploy
from tests.support.emf import log_lines

IDENTIFY_FN = "ConnectFiIdentificationFunction"
STATUS_FN = "ConnectFiStatusFunction"
SIGNZY_FN = "SignzyRepushFunction"
DOCUMENTS_FN = "ConnectFiDocumentsFunction"
ONBOARDING_ID = "65a1b2c3d4e5f60718293a4b"
JPEG = base64.b64encode(bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\xff\xd9").decode()
# connectFi's documented individual and its application, seeded in every sandbox
CUSTOMER, APPLICATION = "cstap_5mBHiIx3QbkvEpjGfKsI9k", "iapp_1BGgJeDQJFo5MCup15zq9A"

ConfiguredGateway = Callable[[str, str, dict[str, str]], Gateway]


@pytest.fixture(scope="module")
def strict_sandbox() -> Iterator[Callable[[str, str], ProviderSandbox]]:
    """A sandbox playing one reading of one option, started on first use and shared by the module's tests (reset
    for each)."""
    started: dict[tuple[str, str], ProviderSandbox] = {}

    def sandbox(option: str, reading: str) -> ProviderSandbox:
        if (option, reading) not in started:
            started[option, reading] = ProviderSandbox(SECRETS, quiet=True, **{option: reading}).start()
        started[option, reading].reset()
        return started[option, reading]

    yield sandbox
    for running in started.values():
        running.stop()


@pytest.fixture
def configured_gateway(physical_ids, strict_sandbox, monkeypatch) -> Iterator[ConfiguredGateway]:
    """The functions against a sandbox playing `reading` of `option`, with the gateway's `settings` (environment
    variables), as a fresh instance."""

    def configured(option: str, reading: str, settings: dict[str, str]) -> Gateway:
        sandbox = strict_sandbox(option, reading)
        deploy(physical_ids, sandbox.url, monkeypatch)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        cold_start()
        return Gateway(sandbox, physical_ids)

    yield configured
    cold_start()


@pytest.mark.parametrize("reading", ["webhookUrl", "webhookURL"])
@pytest.mark.parametrize("configured", ["webhookUrl", "webhookURL"])
def test_connectfi_webhook_field_pinned_spelling(configured_gateway, reading, configured):
    # Given a connectFi reading one spelling of the callback field, and a gateway pinned to one
    gateway = configured_gateway("connectfi_webhook_field", reading, {"CONNECTFI_WEBHOOK_FIELD": configured})

    # When an identification is started (the gateway adds its own webhook URL)
    answer = gateway.call(IDENTIFY_FN, {"customerId": CUSTOMER, "reference": "extRefApp100"})

    # Then the matching spelling starts it; the other is an additional property to connectFi's schema: a field the
    # gateway itself set, so its own configuration's fault (500, a gateway fault), never the caller's 4xx
    if configured == reading:
        assert (answer.status, answer.json()["data"]["status"]) == (200, "pending_step_up")
    else:
        error = answer.error
        assert (answer.status, error["code"], error["providerStatus"]) == (500, "configuration_error", 400)
        assert error["providerCode"] == "requestValidateError"
        assert [detail["params"] for detail in error["details"]] == [{"additionalProperty": configured}]
        assert error["message"] == f"connectFi refuses the field {configured} (CONNECTFI_WEBHOOK_FIELD)"
    assert gateway.provider.call_count("connectfi", "identification") == 1  # pinned: never sent again


@pytest.mark.parametrize(("reading", "first_calls"), [("webhookUrl", 1), ("webhookURL", 2)])
def test_connectfi_webhook_field_auto_survives_either_spelling(configured_gateway, reading, first_calls):
    # Given a connectFi reading one spelling of the callback field, and a gateway left to find out (the default)
    gateway = configured_gateway("connectfi_webhook_field", reading, {})

    # When an instance starts two identifications, the second asking for no callback under the example's spelling
    first = gateway.call(IDENTIFY_FN, {"customerId": CUSTOMER, "reference": "extRefApp100"})
    calls_for_first = gateway.provider.call_count("connectfi", "identification")
    second = gateway.call(IDENTIFY_FN, {"customerId": CUSTOMER, "reference": "extRefApp101", "webhookUrl": ""})

    # Then both start: webhookUrl is sent first; refused as an unknown property (connectFi started nothing), the
    # identification is sent once more as webhookURL; and the instance then sends the spelling connectFi read
    assert (first.status, first.json()["data"]["status"]) == (200, "pending_step_up")
    assert (second.status, second.json()["data"]["status"]) == (200, "pending_step_up")
    assert calls_for_first == first_calls
    assert gateway.provider.call_count("connectfi", "identification") == first_calls + 1


@pytest.mark.parametrize("reading", ["string", "object"])
def test_connectfi_token_shape(configured_gateway, reading):
    # Given a connectFi answering its login token as a string, or as {base, confined}
    gateway = configured_gateway("connectfi_token_shape", reading, {})

    # When a cold instance makes a read and a write
    status = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})
    identification = gateway.call(IDENTIFY_FN, {"customerId": CUSTOMER, "reference": "extRefApp100"})

    # Then both pass connectFi's token check with the one login (the confined token would be refused)
    assert (status.status, identification.status) == (200, 200)
    assert gateway.provider.call_count("connectfi", "token") == 1


@pytest.mark.parametrize("reading", ["documentNotFound", "message", "empty"])
def test_connectfi_unknown_document_upload_refusal(configured_gateway, reading):
    # Given a connectFi refusing an upload to an unknown document with its code, a message only, or an empty 400
    gateway = configured_gateway("connectfi_unknown_upload", reading, {})
    upload = {"workflow": "PERSONAL", "name": "Driver license", "extension": "jpg", "type": "license", "file": JPEG}

    # When a caller uploads a file to a document connectFi never generated, and another sends a new document
    unknown = gateway.call(DOCUMENTS_FN, {**upload, "documentId": "doc_neverGenerated01"})
    new = gateway.call(DOCUMENTS_FN, upload)

    # Then the first is the caller's document not found, with connectFi's status; the new document goes through
    assert (unknown.status, unknown.error["code"], unknown.error["providerStatus"]) == (422, "document_not_found", 400)
    assert new.status == 200, new.text


@pytest.mark.parametrize("reading", ["onboardingId", "onboardingid"])
@pytest.mark.parametrize("configured", ["onboardingId", "onboardingid"])
def test_signzy_onboarding_id_pinned_spelling(configured_gateway, reading, configured):
    # Given a Signzy reading one spelling of the repush field, and a gateway pinned to one
    settings = {"SIGNZY_ONBOARDING_ID_FIELD": configured, "SIGNZY_AUTH_HEADER": "raw"}  # the sandbox's form
    gateway = configured_gateway("signzy_onboarding_id_field", reading, settings)

    # When a caller repushes (always as onboardingId: the gateway's own API does not change)
    answer = gateway.call(SIGNZY_FN, {"onboardingId": ONBOARDING_ID})

    # Then the matching spelling repushes it, its answer passed on in that reading's spelling too; under the other,
    # Signzy finds no id (its documented 500): 502
    if configured == reading:
        assert (answer.status, answer.json()[reading]) == (200, ONBOARDING_ID)
    else:
        assert (answer.status, answer.error["code"], answer.error["providerStatus"]) == (502, "provider_error", 500)
    assert gateway.provider.call_count("signzy", "repush") == 1  # pinned: never sent again


# The sandbox takes the raw token: a cold instance's first repush goes as Bearer <token> first (refused: 401)
@pytest.mark.parametrize(("reading", "first_calls"), [("onboardingId", 2), ("onboardingid", 3)])
def test_signzy_onboarding_id_auto_survives_either_spelling(configured_gateway, logs, reading, first_calls):
    # Given a Signzy reading one spelling of the repush field, and a gateway left to find out both it and the
    # Authorization form (the defaults)
    gateway = configured_gateway("signzy_onboarding_id_field", reading, {})

    # When an instance repushes twice
    first = gateway.call(SIGNZY_FN, {"onboardingId": ONBOARDING_ID})
    calls_for_first = gateway.provider.call_count("signzy", "repush")
    second = gateway.call(SIGNZY_FN, {"onboardingId": ONBOARDING_ID})

    # Then both are repushed: onboardingId is sent first; answered Signzy's 500 for an id it cannot read (it did
    # nothing, but the token passed: the form is settled too), the repush is sent once more as onboardingid; and the
    # instance then sends the spelling and the form Signzy read
    assert (first.status, first.json()[reading]) == (200, ONBOARDING_ID)  # the answer as that Signzy spells it
    assert (second.status, second.json()[reading]) == (200, ONBOARDING_ID)
    assert calls_for_first == first_calls
    assert gateway.provider.call_count("signzy", "repush") == first_calls + 1
    settled = log_lines(logs(), "signzy onboarding id field settled")
    expected = [("INFO", "signzy", "onboardingid")] if reading == "onboardingid" else []
    assert [(line["level"], line["provider"], line["field"]) for line in settled] == expected
