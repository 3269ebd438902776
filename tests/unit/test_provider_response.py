"""A provider's answer as the gateway reads it: its JSON object, its request id, whether a write was done, and the
gateway error describing it."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import ProviderBadResponse, ProviderFailed, ProviderRateLimited
from kyc_gateway.provider_response import ProviderResponse, int_or_none


def answer(status: int = 200, text: str = "{}", **flags) -> ProviderResponse:
    return ProviderResponse("cdp", status, text, {}, **flags)


def test_an_answer_is_a_plain_one_unless_the_http_client_says_otherwise():
    response = answer(200, "{}")

    assert (response.throttled, response.outcome_unknown, response.write, response.may_have_acted) == (False,) * 4


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ('{"a": 1}', {"a": 1}),
        ("{}", {}),
        ("[1, 2]", None),  # JSON, but not an object
        ('"text"', None),
        ("<html>502 Bad Gateway</html>", None),
        ('{"a": 1', None),  # cut short
        ("", None),
    ],
)
def test_the_body_is_the_answers_json_object_or_none(text, body):
    assert answer(text=text).body == body


@pytest.mark.parametrize(
    ("text", "request_id"),
    [
        ('{"request_id": "r-1"}', "r-1"),  # Cladfy and CDP
        ('{"requestId": "r-2"}', "r-2"),  # connectFi
        ('{"requestId": 42}', "42"),
        ('{"request_id": "", "requestId": "r-3"}', "r-3"),
        ('{"request_id": null}', None),
        ('{"requestId": ""}', None),
        ("{}", None),
        ("<html></html>", None),
    ],
)
def test_the_request_id_is_the_providers_whichever_way_it_spells_it(text, request_id):
    assert answer(text=text).request_id == request_id


@pytest.mark.parametrize(
    ("status", "write", "may_have_acted"),
    [
        (200, True, True),
        (201, True, True),
        (299, True, True),
        (300, True, False),
        (199, True, False),
        (204, False, False),  # a read's answer: nothing was written
        (500, True, True),  # failed, before or after the write
        (502, True, True),
        (503, True, True),
        (404, True, False),  # refused: nothing done
        (429, True, False),
    ],
)
def test_a_write_answered_2xx_or_5xx_may_have_been_done_whatever_its_body(status, write, may_have_acted):
    assert answer(status, "<html>unreadable</html>", write=write).may_have_acted is may_have_acted


def test_an_unusable_answer_to_a_write_the_provider_did_has_an_unknown_outcome():
    error = answer(200, "<html>OK</html>", write=True).unusable(ProviderBadResponse)

    assert isinstance(error, ProviderBadResponse) and error.outcome_unknown
    assert (error.provider, error.provider_status) == ("cdp", 200)


def test_an_unusable_answer_to_a_write_it_refused_or_to_a_read_has_a_known_outcome():
    assert not answer(400, "{}", write=True).unusable(ProviderFailed).outcome_unknown
    assert not answer(200, "<html></html>").unusable(ProviderBadResponse).outcome_unknown


def test_an_answer_from_something_in_front_of_the_provider_keeps_its_unknown_outcome():
    refused = answer(504, "<html>Gateway Timeout</html>", write=True, outcome_unknown=True)

    assert refused.unusable(ProviderFailed).outcome_unknown
    assert refused.error(ProviderFailed).outcome_unknown


def test_the_error_describes_the_answer_with_the_providers_facts():
    response = answer(429, '{"requestId": "r-9", "code": "tooManyRequests"}')

    error = response.unusable(ProviderRateLimited, "tooManyRequests")

    assert isinstance(error, ProviderRateLimited)
    assert error.record() == {
        "status": 429,
        "code": "rate_limited",
        "message": ProviderRateLimited.message,
        "provider": "cdp",
        "providerStatus": 429,
        "providerCode": "tooManyRequests",
        "providerRequestId": "r-9",
        "details": [],
    }
    assert not error.outcome_unknown


def test_an_error_can_name_its_own_code_and_details():
    details = [{"field": "customerId", "issue": "unknown"}]

    error = answer(404, "{}").error(ProviderFailed, code="customer_not_found", provider_code=45001, details=details)

    assert (error.code, error.provider_code, error.details) == ("customer_not_found", "45001", details)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (45001, 45001),
        (0, 0),
        ("1005", 1005),
        (" 1005 ", 1005),
        ("-1", None),
        ("10a", None),
        ("", None),
        (True, None),  # a JSON true is no code, though Python counts it as 1
        (False, None),
        (None, None),
        (1005.0, None),
        ([1], None),
    ],
)
def test_a_numeric_code_is_read_from_a_number_or_a_string_of_digits(value, number):
    assert int_or_none(value) == number


@pytest.mark.parametrize(
    ("retry_after", "said"), [("7", 7), (" 0 ", 0), ("Wed, 21 Oct 2026 07:28:00 GMT", None), ("-1", None), ("", None)]
)
def test_a_rate_limit_carries_a_retry_after_in_seconds_on_to_the_caller(retry_after, said):
    answer = ProviderResponse("cdp", 429, "{}", {"Retry-After": retry_after})

    assert answer.error(ProviderRateLimited).retry_after_seconds == said
    assert answer.error(ProviderFailed).retry_after_seconds is None  # only a rate limit asks the caller to wait
