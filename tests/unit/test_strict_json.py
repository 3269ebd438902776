"""The gateway's one JSON reader: what Python's json module lets through and a provider could not be sent (or
would read otherwise) is refused with a reason that names no value; strict JSON is read as json reads it."""

from __future__ import annotations

import json

import pytest

from kyc_gateway.strict_json import NotStrictJson, loads

LARGEST_DOUBLE_DIGITS = len(str(int(1.7976931348623157e308)))  # 309


def reason_for(data: bytes) -> str:
    with pytest.raises(NotStrictJson) as refused:
        loads(data)
    return refused.value.reason


@pytest.mark.parametrize(
    "data",
    [b'{"a": 1, "a": 2}', b'{"outer": [{"k": "x", "k": "y"}]}', b'{"a": {}, "b": {"c": 1, "c": 1}}'],
)
def test_a_key_given_twice_in_any_object_is_refused(data):
    assert reason_for(data) == "has a key given twice in one object"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_numbers(constant):
    assert reason_for(f'{{"amount": {constant}}}'.encode()) == f"has {constant}, which is not a JSON number"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.8e308", "9" * LARGEST_DOUBLE_DIGITS, "-" + "9" * 400])
def test_a_number_a_double_cannot_hold_is_refused_float_or_integer(number):
    assert reason_for(f'{{"n": {number}}}'.encode()) == "has a number too large for a double"


@pytest.mark.parametrize(
    "number",
    ["1.7e308", "1" + "0" * (LARGEST_DOUBLE_DIGITS - 1), "-" + "1" + "0" * (LARGEST_DOUBLE_DIGITS - 1), "9" * 308],
)
def test_a_number_as_long_as_the_largest_double_but_within_it_is_read_exactly(number):
    assert loads(f'{{"n": {number}}}'.encode()) == {"n": json.loads(number)}


def test_integers_keep_every_digit_and_floats_are_floats():
    assert loads(b"[12345678901234567890, 1.10, 0, -7]") == [12345678901234567890, 1.1, 0, -7]
    assert [type(item) for item in loads(b"[1, 1.0, 1E2]")] == [int, float, float]


@pytest.mark.parametrize(
    "data",
    [rb'{"name": "\ud800"}', rb'{"\udc00": 1}', rb'["ok", ["\udfff x"]]', rb'{"n": "\ude00\ud83d"}'],
)
def test_a_lone_surrogate_escape_anywhere_keys_included_is_refused(data):
    assert reason_for(data) == "has a lone surrogate escape (\\ud800-\\udfff without its pair)"


def test_an_escaped_surrogate_pair_is_the_character_it_encodes():
    """What json.dumps writes for any emoji by default (ensure_ascii)."""
    data = json.dumps({"name": "Ana \U0001f600"}).encode()

    assert rb"\ud83d\ude00" in data
    assert loads(data) == {"name": "Ana \U0001f600"}


def test_text_that_only_looks_like_an_escape_is_not_one():
    assert loads(rb'{"path": "\\ud800"}') == {"path": "\\ud800"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"name": "\xff"}', "is not UTF-8 text"),
        (b'{"name": ', "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply"),
    ],
)
def test_what_is_not_json_at_all_says_why(data, reason):
    assert reason_for(data) == reason


def test_no_reason_repeats_the_value_it_refused():
    secret = "A004416331M"
    for data in (
        f'{{"{secret}": 1, "{secret}": 2}}',
        f'{{"pin": "{secret}\\ud800"}}',
        f'{{"pin": {"9" * 400}}}',
    ):
        assert secret not in reason_for(data.encode()) and "999" not in reason_for(data.encode())


def test_a_refusal_is_a_value_error_that_says_its_reason_so_any_reader_of_bad_json_catches_it():
    with pytest.raises(ValueError) as refused:
        loads(b"{")
    assert str(refused.value) == "is not valid JSON"
