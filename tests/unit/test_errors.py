"""The gateway's errors: each answers the status docs/errors.md gives its code, counts as the gateway's own fault
only when it is one, and carries the provider's facts into the envelope and into a replay of it."""

from __future__ import annotations

import re

import pytest

from kyc_gateway import errors
from project import template as cfn

ROW = re.compile(r"\| (\d{3}) \| (`[a-z_]+`(?:, `[a-z_]+`)*) \|")  # a table row's status and its code(s)


def documented_statuses() -> dict[str, set[int]]:
    """Each code in docs/errors.md's tables, with the statuses they give it."""
    statuses: dict[str, set[int]] = {}
    for status, codes in ROW.findall((cfn.ROOT / "docs" / "errors.md").read_text()):
        for code in re.findall(r"`([a-z_]+)`", codes):
            statuses.setdefault(code, set()).add(int(status))
    return statuses


def error_classes() -> list[type[errors.GatewayError]]:
    found, pending = [], [errors.GatewayError]
    while pending:
        kind = pending.pop()
        if kind.__module__ == errors.__name__:
            found.append(kind)
        pending += kind.__subclasses__()
    return sorted(found, key=lambda kind: kind.__name__)


PROVIDERS_FAULTS = {
    errors.ProviderRateLimited,
    errors.ProviderFailed,
    errors.ProviderBadResponse,
    errors.ProviderUnavailable,
    errors.ProviderCircuitOpen,
    errors.ProviderAuthFailed,
    errors.ProviderTimeout,
}


@pytest.mark.parametrize("kind", error_classes(), ids=lambda kind: kind.__name__)
def test_each_error_answers_the_status_the_docs_give_its_code(kind):
    # A subject not found is always answered under the name of what was not found
    error = kind(code="customer_not_found") if kind is errors.SubjectNotFound else kind()

    assert error.status in documented_statuses()[error.code], (kind.__name__, error.code)
    assert str(error) == error.message and error.message  # a fixed text of the gateway's own


@pytest.mark.parametrize("kind", error_classes(), ids=lambda kind: kind.__name__)
def test_only_the_gateways_own_5xx_count_as_its_fault_and_a_provider_failing_is_the_providers(kind):
    error = kind()

    assert error.provider_side is (kind in PROVIDERS_FAULTS)
    assert error.gateway_fault is (error.status >= 500 and kind not in PROVIDERS_FAULTS)


def test_an_error_at_exactly_500_is_a_gateway_fault_and_below_it_is_not():
    assert errors.GatewayError().gateway_fault
    error = errors.GatewayError()
    error.status = 499
    assert not error.gateway_fault


def test_the_envelope_carries_the_providers_facts_and_the_correlation_id_never_the_status():
    details = [{"field": "nationality", "issue": "Invalid Nationality"}]
    error = errors.ProviderRejected(
        code="invalid_master_data",
        provider="cdp",
        provider_status=406,
        provider_code=45053,
        provider_request_id="req-9",
        details=details,
    )

    assert error.envelope("corr-1") == {
        "error": {
            "code": "invalid_master_data",
            "message": errors.ProviderRejected.message,
            "provider": "cdp",
            "providerStatus": 406,
            "providerCode": "45053",  # a provider's numeric code, as text like every other
            "providerRequestId": "req-9",
            "details": details,
            "correlationId": "corr-1",
        }
    }


def test_without_provider_facts_the_envelope_says_null_and_lists_no_details():
    error = errors.ConfigurationError("CDP_BASE_URL is not configured")

    assert error.envelope("c") == {
        "error": {
            "code": "configuration_error",
            "message": "CDP_BASE_URL is not configured",
            "provider": None,
            "providerStatus": None,
            "providerCode": None,
            "providerRequestId": None,
            "details": [],
            "correlationId": "c",
        }
    }
    assert not error.outcome_unknown and not error.write_done


def test_a_write_that_may_have_been_done_or_was_done_says_so():
    assert errors.ProviderTimeout(outcome_unknown=True).outcome_unknown
    assert errors.ProviderBadResponse(write_done=True).write_done


def test_a_replayed_error_answers_exactly_as_the_first_and_is_never_counted_as_a_fault():
    # Given a stored 500 (a generated document whose upload failed with the gateway's own fault) and a 422
    for first in (
        errors.GatewayError(code="upload_failed", provider="connectfi", provider_status=200, write_done=True),
        errors.ProviderRejected(
            code="customer_blocked",
            provider="cdp",
            provider_code="45051",
            provider_request_id="r-1",
            details=[{"a": 1}],
        ),
    ):
        # When it is replayed from its record
        again = errors.GatewayError.replayed(first.record())

        # Then the caller gets the same status and envelope; the replay is the gateway working, not failing
        assert (again.status, again.envelope("c")) == (first.status, first.envelope("c"))
        assert again.replayed_answer and not again.gateway_fault
    assert not first.replayed_answer


def test_credentials_rejected_carries_the_auth_error_for_the_retry_with_a_fresh_secret():
    refused = errors.ProviderAuthFailed(provider="cladfy", provider_status=401)

    raised = errors.CredentialsRejected(refused)

    assert raised.error is refused and str(raised) == refused.message


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("customer_not_found", "Customer not found"),
        ("application_not_found", "Application not found"),
        ("kra_pin_not_found", "KRA PIN not found"),
        ("not_found", "The provider does not know the requested subject"),
    ],
)
def test_a_subject_not_found_is_answered_with_its_kinds_own_text(code, message):
    error = errors.SubjectNotFound(code=code, provider_code="45001")

    assert (error.code, error.message, error.envelope("c-1")["error"]["message"]) == (code, message, message)


def test_a_subject_not_found_keeps_a_text_given_for_it():
    error = errors.SubjectNotFound(code="application_not_found", message="No status is stored for this application")

    assert error.message == "No status is stored for this application"


def test_an_error_lists_at_most_the_limit_of_details_then_how_many_more():
    # Given an error with 30 more details than an answer lists
    many = [{"field": f"f{n}", "issue": "is wrong", "type": "x"} for n in range(errors.DETAILS_LIMIT + 30)]
    error = errors.GatewayError(details=many)

    # When it is answered, and its stored answer replayed
    listed = error.envelope("c")["error"]["details"]
    replayed = errors.GatewayError.replayed(error.record()).envelope("c")["error"]["details"]

    # Then the answer lists the limit, the last counting the 31 left out, and a replay lists the same; the code
    # that reads the error still sees every detail
    assert listed[:-1] == many[: errors.DETAILS_LIMIT - 1]
    assert listed[-1] == {"field": "body", "issue": "and 31 more, not listed", "type": "more"}
    assert replayed == listed and error.details == many
    assert errors.GatewayError(details=many[: errors.DETAILS_LIMIT]).record()["details"] == many[: errors.DETAILS_LIMIT]
