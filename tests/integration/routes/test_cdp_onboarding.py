"""POST /cdp/customers: CDP Individual Onboarding through the real handler, against a CDP double on 127.0.0.1.

CDP's document gives the onboarding an example body, not a field table: the gateway forwards any JSON object as
the caller sent it and CDP rules on it (its 40002 names the fields it refuses)."""

from __future__ import annotations

import copy
import json

import pytest

from kyc_gateway.providers import cdp
from tests.conftest import SECRETS
from tests.integration.routes.test_cdp import (
    LOOKUP,
    LOOKUP_BODY,
    LOOKUP_FN,
    LOOKUP_SUCCESS,
    ONBOARD,
    ONBOARD_FN,
    ONBOARD_SUCCESS,
    ONBOARDING_BODY,
    TOKEN,
    UNAUTHORIZED,
    token_reply,
)
from tests.support.fake_provider import Reply

MISSING_FIRST_NAME = Reply(
    400,
    json.dumps(
        {
            "status": "failure",
            "status_code": 400,
            "error_code": 40002,
            "message": "Invalid format or missing mandatory request",
            "details": {"firstName": "Invalid first name"},
            "request_id": "729d5085e553f3830277d0cb5372f2b2",
        }
    ).encode(),
)


def _parent(body: dict, path: str) -> tuple[dict | list, str | int]:
    """The container holding the last part of a dotted path ("id_details.0.id_type"), and that part."""
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    return target, int(last) if last.isdigit() else last


def without(path: str) -> dict:
    body = copy.deepcopy(ONBOARDING_BODY)
    target, last = _parent(body, path)
    del target[last]
    return body


def changed(path: str, value) -> dict:
    body = copy.deepcopy(ONBOARDING_BODY)
    target, last = _parent(body, path)
    target[last] = value
    return body


def with_fields_the_example_lacks() -> dict:
    """What CDP's introduction asks partners for and its example has no field for: e-KYC reports, a face."""
    image = {"base64_data": ONBOARDING_BODY["id_details"][0]["id_front"]["base64_data"], "content_type": "image/jpeg"}
    return {
        **ONBOARDING_BODY,
        "ekyc_reports": [{"provider": "UAE PASS", "result": "verified", "report": image}],
        "facial_image": image,
    }


def onboarded(gateway, body: dict, *replies: Reply, headers=()):
    """The onboarding of `body`, CDP answering `replies` (its success by default)."""
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, *(replies or (ONBOARD_SUCCESS,)))
    return gateway.call(ONBOARD_FN, body, headers=headers)


def test_the_documented_example_is_forwarded_intact_and_the_answer_passed_through(gateway):
    answer = onboarded(gateway, ONBOARDING_BODY)

    assert (answer.status, answer.json()) == (200, ONBOARD_SUCCESS)
    sent = gateway.provider.requests(ONBOARD)[0]
    assert json.dumps(sent.json()) == json.dumps(ONBOARDING_BODY)  # the same fields, values and order, nested too
    assert (sent.headers["Authorization"], sent.header("Accept")) == ("Bearer access-1", "application/json")


def test_the_callers_bytes_are_forwarded_numbers_written_as_the_caller_wrote_them(gateway):
    # Given a body whose numbers a re-encoding would rewrite: digits beyond a double's, a trailing zero, an exponent
    raw = '{"first_name": "IRFAN",  "tax_registration_number": 784199554586091123.0, "zip": 1.10, "e": 1E2, "n": 7}'
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    # When it is onboarded
    answer = gateway.call(ONBOARD_FN, raw=raw)

    # Then CDP gets the caller's bytes, exactly
    assert answer.status == 200, answer.text
    assert gateway.provider.requests(ONBOARD)[0].body == raw.encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(changed("address_list.1.zip", "13345"), id="zip as a string"),
        pytest.param(changed("additional_docs.0.document_id", 1), id="document_id as a number"),
        pytest.param(changed("id_details.0.id_type", "4"), id="id_type as a string"),
        pytest.param(changed("nationality", "India"), id="a nationality in no format of the example"),
        pytest.param(changed("first_name", "X" * 300), id="a first name of any length"),
        pytest.param(with_fields_the_example_lacks(), id="e-KYC reports and a facial image"),
        pytest.param(without("id_details"), id="no id_details"),
        pytest.param({"first_name": "IRFAN"}, id="a first name alone"),
        pytest.param({}, id="an empty object"),
    ],
)
def test_any_json_object_is_forwarded_as_sent_for_cdp_to_rule_on(gateway, body):
    # Given CDP accepting the onboarding, When a caller sends a body CDP's example does not describe
    answer = onboarded(gateway, body)

    # Then CDP gets it as sent, and its answer decides
    assert (answer.status, answer.json()) == (200, ONBOARD_SUCCESS), answer.text
    assert json.dumps(gateway.provider.requests(ONBOARD)[0].json()) == json.dumps(body)


def test_cdps_missing_mandatory_fields_come_back_as_422_with_its_details(gateway):
    answer = onboarded(gateway, without("first_name"), MISSING_FIRST_NAME)

    assert (answer.status, answer.error["code"]) == (422, "missing_mandatory_fields")
    assert answer.error["details"] == [{"field": "firstName", "issue": "Invalid first name"}]
    assert answer.error["providerCode"] == "40002"
    assert gateway.provider.requests(ONBOARD)[0].json() == without("first_name")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(json.dumps([ONBOARDING_BODY]), id="an array"),
        pytest.param('"IRFAN"', id="a string"),
        pytest.param("null", id="null"),
        pytest.param('{"first_name": "IRFAN", "first_name": "OTHER"}', id="a key twice"),
        pytest.param('{"first_name": "IRFAN", "zip": NaN}', id="NaN"),
        pytest.param('{"first_name": "IRFAN", "zip": 1e400}', id="a number too large for a double"),
        pytest.param('{"first_name": "IRFAN", "zip": 1' + "0" * 400 + "}", id="an integer too large for a double"),
        pytest.param('{"first_name": "\\ud800"}', id="a lone surrogate"),
        pytest.param('{"first_name": "IRFAN"', id="not JSON"),
        pytest.param("", id="no body"),
    ],
)
def test_a_body_that_is_not_one_strict_json_object_is_400_before_any_call(gateway, raw):
    answer = gateway.call(ONBOARD_FN, raw=raw)

    assert (answer.status, answer.error["code"]) == (400, "validation_error"), answer.text
    assert gateway.provider.requests() == []


def test_a_body_too_large_for_lambda_is_413_before_any_call(gateway):
    body = changed("id_details.0.id_front.base64_data", "A" * (6 * 1024 * 1024))

    answer = gateway.call(ONBOARD_FN, body)

    assert (answer.status, answer.error["code"]) == (413, "request_too_large")
    assert gateway.provider.requests() == []


def test_onboarding_is_never_retried_blindly(gateway):
    answer = onboarded(gateway, ONBOARDING_BODY, Reply(503, b'{"status": "failed"}'))

    assert answer.status == 502
    assert len(gateway.provider.requests(ONBOARD)) == 1


@pytest.mark.parametrize(
    ("status", "body_status"),
    [(200, 502), (400, 400), (500, None)],
    ids=["as-200-with-its-502-in-the-body", "under-a-400", "under-a-500"],
)
def test_cdps_backend_failing_mid_onboarding_under_any_status_is_never_sent_again_under_its_key(
    gateway, status, body_status
):
    # Given CDP answering a first onboarding with its "Backend Technical Problem" (40001, documented under a 502),
    # here under another status: its backend failed, before or after it wrote the customer
    failure = {"status": "failed", "error_code": 40001, "message": "Backend Technical Problem"}
    failure |= {"status_code": body_status} if body_status else {}
    key = [("Idempotency-Key", f"onboard-40001-{status}")]
    first = onboarded(
        gateway, ONBOARDING_BODY, Reply(status, json.dumps(failure).encode()), ONBOARD_SUCCESS, headers=key
    )

    # When the caller retries under the same key
    again = gateway.call(ONBOARD_FN, ONBOARDING_BODY, headers=key)

    # Then CDP is failing (502), and whether the customer was onboarded is an outcome to find out: never a second send
    assert (first.status, first.error["code"], first.error["providerCode"]) == (502, "provider_error", "40001")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_documented_refusal_code_under_a_5xx_is_cdp_failing_with_the_onboarding_outcome_unknown(gateway):
    # Given CDP answering an onboarding HTTP 500 with its refusal code 45013 (documented under a 406)
    refusal = {"status": "failed", "status_code": 500, "error_code": 45013, "message": "Under Compliance Investigation"}
    key = [("Idempotency-Key", "onboard-45013-500")]
    first = onboarded(gateway, ONBOARDING_BODY, Reply(500, json.dumps(refusal).encode()), ONBOARD_SUCCESS, headers=key)

    # When the caller retries under the same key
    again = gateway.call(ONBOARD_FN, ONBOARDING_BODY, headers=key)

    # Then a 5xx is CDP failing, not its refusal: 502, and the onboarding is not sent again
    assert (first.status, first.error["code"], first.error["providerCode"]) == (502, "provider_error", "45013")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_success_naming_the_ecrn_as_a_number_is_the_onboarding_done_as_cdp_answered_it(gateway):
    # Given CDP answering an onboarding with its ECRN as a JSON number (its answer is shown only by example)
    success = json.dumps({**ONBOARD_SUCCESS, "data": {**ONBOARD_SUCCESS["data"], "ecrn": 7841003247752409}})

    # When a caller onboards
    answer = onboarded(gateway, ONBOARDING_BODY, Reply(200, success.encode()))

    # Then it is CDP's answer, unchanged
    assert (answer.status, answer.text) == (200, success)


@pytest.mark.parametrize(
    "data",
    [None, [], {"customer_status": "ACTIVE"}, {**ONBOARD_SUCCESS["data"], "ecrn": ""}, {"ecrn": True}],
    ids=["no data", "data not an object", "no ecrn", "empty ecrn", "ecrn a boolean"],
)
def test_a_success_without_the_ecrn_is_502_and_the_key_an_outcome_to_find_out(gateway, data):
    # Given CDP answering an onboarding "success" without the ECRN of the customer it onboarded
    success = {key: value for key, value in ONBOARD_SUCCESS.items() if key != "data"}
    if data is not None:
        success["data"] = data
    key = [("Idempotency-Key", "onboard-no-ecrn")]
    first = onboarded(gateway, ONBOARDING_BODY, Reply(200, json.dumps(success).encode()), headers=key)

    # When the caller retries under the same key
    again = gateway.call(ONBOARD_FN, ONBOARDING_BODY, headers=key)

    # Then the first is CDP failing to say whom it onboarded, and the retry is not sent: it says how to find out
    assert (first.status, first.error["code"]) == (502, "provider_bad_response")
    assert (again.status, again.error["code"]) == (409, "idempotency_outcome_unknown")
    assert again.error["details"][0]["issue"] == cdp.ONBOARDING_OUTCOME_CHECK
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_key_reused_with_a_body_differing_only_in_a_field_the_example_lacks_is_409(gateway):
    # Given an onboarding with e-KYC reports done under a key, and replayed under it
    key = [("Idempotency-Key", "onboard-ekyc-1")]
    body = with_fields_the_example_lacks()
    first = onboarded(gateway, body, headers=key)
    again = gateway.call(ONBOARD_FN, body, headers=key)
    assert (first.status, again.status, again.headers["Idempotent-Replayed"]) == (200, 200, "true")

    # When the same key comes with another e-KYC report
    other = {**body, "ekyc_reports": [{**body["ekyc_reports"][0], "result": "not verified"}]}
    answer = gateway.call(ONBOARD_FN, other, headers=key)

    # Then the whole body is the key's fingerprint: 409, and CDP was called once
    assert (answer.status, answer.error["code"]) == (409, "idempotency_key_reused")
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_key_reused_with_a_number_written_otherwise_is_409_as_cdp_would_get_other_bytes(gateway):
    # Given an onboarding done under a key
    key = [("Idempotency-Key", "onboard-digits-1")]
    first = '{"first_name": "IRFAN", "tax_registration_number": 784199554586091123.0}'
    assert onboarded_raw(gateway, first, headers=key).status == 200

    # When the key comes again with a number a double cannot tell from the first
    answer = gateway.call(ONBOARD_FN, raw=first.replace("123.0", "124.0"), headers=key)

    # Then it is another body (CDP would get other bytes): 409, and CDP was called once
    assert (answer.status, answer.error["code"]) == (409, "idempotency_key_reused")
    assert len(gateway.provider.requests(ONBOARD)) == 1


def onboarded_raw(gateway, raw: str, headers=()):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)
    return gateway.call(ONBOARD_FN, raw=raw, headers=headers)


def test_logs_hold_no_token_id_number_name_phone_email_or_image(gateway, logs):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, UNAUTHORIZED, LOOKUP_SUCCESS)
    gateway.provider.reply(
        ONBOARD,
        Reply(
            406,
            json.dumps(
                {
                    "status": "failed",
                    "status_code": 406,
                    "error_code": 45013,
                    "message": "Customer 7841003236577331 Under Compliance Investigation",
                }
            ).encode(),
        ),
    )

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.call(ONBOARD_FN, ONBOARDING_BODY)
    gateway.call(ONBOARD_FN, raw='{"email_id": "bad@", "email_id": "bad@"}')

    written = logs()
    assert "request completed" in written
    private = [
        "access-1",
        "access-2",
        "refresh-1",
        "784199554586091",
        "P4006315",
        "IRFAN",
        "NANGARATH",
        "+971502106707",
        "irfanmtp1@gmail.com",
        "7841003236577331",
        "ZAFARBASHIR",
        "BASHIRMASIH@GMAIL.COM",
        ONBOARDING_BODY["id_details"][0]["id_front"]["base64_data"][:40],
        "bad@",
        SECRETS["cdp"]["password"],
        SECRETS["cdp"]["clientSecret"],
    ]
    for value in private:
        assert value not in written, value
