"""Fault descriptions sent to `POST /_sandbox/faults`: one the sandbox cannot fire as written is a 400 saying why,
and queues nothing; a valid one fires on exactly the calls it names."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.sandbox.conftest import TIMEOUT, assert_json, cladfy

VALID = {"provider": "cladfy", "operation": "krapin", "fault": "status", "status": 503}


def post_fault(box, description):
    return requests.post(box.url + "/_sandbox/faults", json=description, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"provider": "kra"}, "unknown provider 'kra': one of cdp, cladfy, connectfi, signzy"),
        ({"operation": "pin"}, "cladfy has no operation 'pin': one of krapin"),
        ({"fault": "timeout"}, "unknown fault 'timeout'"),
        ({"times": 0}, "times must be a whole number of calls, 1 or more (not 0)"),
        ({"times": -2}, "times must be a whole number of calls, 1 or more (not -2)"),
        ({"times": 1.5}, "times must be a whole number of calls, 1 or more (not 1.5)"),
        ({"times": "2"}, "times must be a whole number of calls, 1 or more (not '2')"),
        ({"times": True}, "times must be a whole number of calls, 1 or more (not True)"),
        ({"retryAfter": 0}, "unknown option 'retryAfter' for the status fault (its options: status)"),
        ({"fault": "reset"}, "unknown option 'status' for the reset fault (it takes no options)"),
        ({"status": 9000}, "status fault: status must be an HTTP status, 100 to 599 (not 9000)"),
        ({"fault": "redirect", "status": 304}, "redirect fault: status must be a redirect status: 301, 302, 303"),
        (
            {"fault": "slow", "status": None, "seconds": -1},
            "slow fault: seconds must be a number of seconds, 0 to 3600",
        ),
        ({"fault": "drip", "status": None, "seconds": 0}, "drip fault: seconds must be a number of seconds above 0"),
        (
            {"fault": "drip", "status": None, "seconds": 1e300},
            "drip fault: seconds must be a number of seconds above 0",
        ),
        (
            {"fault": "slow", "status": None, "seconds": 3601},
            "slow fault: seconds must be a number of seconds, 0 to 3600",
        ),
        ({"provider": None}, "missing provider"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else None,
)
def test_a_fault_that_could_never_fire_as_written_is_a_400_naming_why(make_sandbox, change, says):
    # Given a sandbox, and a fault description with one thing wrong
    box = make_sandbox()
    description = {key: value for key, value in {**VALID, **change}.items() if value is not None}

    # When it is sent to the admin endpoint
    answer = post_fault(box, description)

    # Then it is refused with what is wrong, and nothing is queued: the next call is answered normally
    assert says in assert_json(answer, 400)["error"]
    assert cladfy(box.base_urls(), "A004416331M").status_code == 200


@pytest.mark.parametrize(
    ("body", "media_type", "says"),
    [
        (b"[1, 2]", "application/json", "a fault description is a JSON object"),
        (b'"reset"', "application/json", "a fault description is a JSON object"),
        (b"not json", "application/json", "Expecting value"),
        (b'{"provider": "cladfy", "operation": "krapin", "fault": "reset"}', None, "not sent as application/json"),
    ],
    ids=["a list", "a string", "not json", "no media type"],
)
def test_a_fault_description_that_is_not_a_json_object_sent_as_json_is_a_400(make_sandbox, body, media_type, says):
    box = make_sandbox()
    headers = {"Content-Type": media_type} if media_type else {}

    answer = requests.post(box.url + "/_sandbox/faults", data=body, headers=headers, timeout=TIMEOUT)

    error = assert_json(answer, 400)["error"]
    assert error.startswith("bad fault: ") and says in error


def test_a_valid_fault_fires_on_as_many_calls_as_it_names_then_stops(make_sandbox):
    box = make_sandbox()

    assert assert_json(post_fault(box, {**VALID, "status": 500, "times": 2}), 200) == {"injected": True}

    statuses = [cladfy(box.base_urls(), "A004416331M").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_a_redirect_fault_answers_its_status_pointing_at_an_address_the_sandbox_does_not_serve(make_sandbox):
    box = make_sandbox()
    post_fault(box, {**VALID, "fault": "redirect", "status": 307})

    answer = cladfy(box.base_urls(), "A004416331M", allow_redirects=False)

    assert (answer.status_code, answer.headers["Location"]) == (307, "/_sandbox/redirected")


def test_a_step_up_operation_takes_faults_like_any_other(make_sandbox):
    # Given a fault on connectFi's upload, named as the sandbox counts it
    box = make_sandbox()
    description = {"provider": "connectfi", "operation": "document_upload", "fault": "rate_limit", "retryAfter": 7}

    assert post_fault(box, description).status_code == 200

    # Then the next upload, whatever the document, meets it
    answer = requests.post(box.url + "/connectfi/akepa/document/upload/doc_any", timeout=TIMEOUT)
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "7")
    assert box.call_count("connectfi", "document_upload") == 1


def test_a_drip_fault_sends_the_operations_own_answer_a_byte_at_a_time(make_sandbox):
    # Given a sandbox's answer to a KRA PIN lookup, and then a drip fault on the next one, a byte every 2 ms
    box = make_sandbox()
    normal = cladfy(box.base_urls(), "A004416331M")
    drip = {"provider": "cladfy", "operation": "krapin", "fault": "drip", "seconds": 0.002}
    assert post_fault(box, drip).status_code == 200

    # When the lookup is made again
    started = time.monotonic()
    dripped = cladfy(box.base_urls(), "A004416331M")

    # Then it is the same answer, done, only slow: at least 2 ms for each byte of its body alone
    assert (dripped.status_code, dripped.json()["data"]) == (200, normal.json()["data"])
    assert time.monotonic() - started > 0.002 * len(dripped.content)
