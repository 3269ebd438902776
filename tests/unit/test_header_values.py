"""The gateway's own check of a header value before anything is sent (kyc_gateway.http): it never passes a value
that requests or http.client would refuse while sending, where that refusal could not be told from an answer's
malformed header after the request went out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from requests.utils import check_header_validity

from kyc_gateway.errors import RequestNotBuilt
from kyc_gateway.http import _check_headers

# Latin-1, and beyond it a few that matter: the euro sign, a Unicode line separator
CHARACTERS = st.one_of(st.characters(max_codepoint=0xFF), st.sampled_from(["\u20ac", "\u2028"]))


def sendable(value: str) -> bool:
    try:
        check_header_validity(("X-Value", value))
        value.encode("latin-1")  # http.client's encoding of a header value
    except (ValueError, UnicodeEncodeError):  # requests' InvalidHeader is a ValueError
        return False
    return True


@given(st.text(CHARACTERS, max_size=6))
def test_a_value_the_check_passes_is_one_requests_sends(value):
    try:
        _check_headers({"X-Value": value})
    except RequestNotBuilt:
        return
    assert sendable(value)


@pytest.mark.parametrize("value", ["Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "Basic YTpi", "Zoë", "a\tb", ""])
def test_the_values_the_gateway_sends_pass(value):
    _check_headers({"X-Value": value})


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\n", " leading", "t\u20acken", "\xa0x"])
def test_a_value_no_request_can_carry_is_refused(value):
    with pytest.raises(RequestNotBuilt):
        _check_headers({"X-Value": value})
