"""The audit trail on `make run`'s stack, over HTTP: requests leave records that `POST /audit/search` finds, newest
first, with webhook confirmations among them; the search refuses what it must in the gateway's envelope."""

from __future__ import annotations

import time

import requests

PIN = "A004416331M"


def test_requests_on_the_local_stack_are_found_by_searching_their_subjects(sandbox_stack):
    api = sandbox_stack["api"]
    # Given two KRA PIN look-ups and a connectFi identification the sandbox completes by webhook (ASYNC reference)
    for number in range(2):
        answer = requests.post(
            f"{api}/cladfy/krapin",
            json={"pinnumber": PIN},
            headers={"X-Correlation-Id": f"e2e-pin-{number}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
    started = requests.post(
        f"{api}/connectfi/identification",
        json={"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "ASYNCAUDIT1"},
        headers={"X-Correlation-Id": "e2e-start"},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    application_id = started.json()["data"]["applicationId"]

    # When the PIN is searched (written as a person might), Then both look-ups come back, newest first
    found = requests.post(f"{api}/audit/search", json={"provider": "cladfy", "subject": " a004416331m"}, timeout=30)
    assert found.status_code == 200, found.text
    assert [record["correlationId"] for record in found.json()["records"]] == ["e2e-pin-1", "e2e-pin-0"]
    assert found.json()["nextToken"] is None
    assert PIN not in found.text

    # And the application's trail holds its start and, once the webhook came, the processor's confirmation
    deadline, trail = time.monotonic() + 20, []
    while time.monotonic() < deadline and "webhook" not in {record["caller"] for record in trail}:
        time.sleep(0.5)
        search = requests.post(
            f"{api}/audit/search", json={"provider": "connectfi", "subject": application_id}, timeout=30
        )
        assert search.status_code == 200, search.text
        trail = search.json()["records"]
    assert trail[-1]["correlationId"] == "e2e-start" and trail[-1]["route"] == "connectfi.identification"
    assert {record["caller"] for record in trail[:-1]} == {"webhook"}

    # And an unknown provider is refused in the gateway's envelope
    refused = requests.post(f"{api}/audit/search", json={"provider": "nemo", "subject": PIN}, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
