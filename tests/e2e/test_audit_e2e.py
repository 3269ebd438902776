"""The audit trail on `make run`'s stack, over HTTP: requests leave records that `POST /audit/search` finds, newest
first, with webhook confirmations among them, and that the archive function, fed the table's stream, copies into the
Object Lock bucket; the search refuses what it must in the gateway's envelope."""

from __future__ import annotations

import json
import time

import boto3
import requests

from project import template as cfn

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


def test_records_on_the_local_stack_reach_the_archive_bucket(sandbox_stack):
    # Given a KRA PIN look-up on the stack, and its emulated AWS
    api = sandbox_stack["api"]
    answer = requests.post(
        f"{api}/cladfy/krapin", json={"pinnumber": PIN}, headers={"X-Correlation-Id": "e2e-archived"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{sandbox_stack['ports'][1]}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    bucket = cfn.resolve(
        cfn.resources()["AuditArchiveBucket"]["Properties"]["BucketName"],
        cfn.parameter_values({"Environment": "local"}),
    )

    # When the stack's stream poller hands the audit table's changes to the archive function
    deadline, archived = time.monotonic() + 20, []
    while time.monotonic() < deadline and not archived:
        time.sleep(0.5)
        for listed in s3.list_objects_v2(Bucket=bucket, Prefix="records/").get("Contents", []):
            copy = json.loads(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
            if copy["record"].get("correlationId") == "e2e-archived":
                archived.append(copy)

    # Then the record is archived as written, without the PIN
    (copy,) = archived
    assert (copy["event"], copy["record"]["route"], copy["record"]["status"]) == ("INSERT", "cladfy.krapin", 200)
    assert PIN not in json.dumps(copy)
