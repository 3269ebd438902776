"""`POST /audit/search` (docs/audit.md) at its edges: what a refusal says, times without an offset on a host outside
UTC, how much of the table a page reads, the last page, and a search the table fails recorded as failed."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from local.functions import invoke
from project import template as cfn
from tests.support.audit import call_as, local_fingerprint, records_of, search

PIN = "A004416331M"
CALLER = "arn:aws:iam::123456789012:role/onboarding-service"
NOT_A_TOKEN = "is not a token this search answered"


def look_up(correlation_id: str) -> None:
    answer = call_as("CladfyKraPinFunction", {"pinnumber": PIN}, caller=CALLER, correlation_id=correlation_id)
    assert answer["statusCode"] == 200, answer["body"]


def look_up_at(monkeypatch: pytest.MonkeyPatch, correlation_id: str, at: str) -> None:
    """A look-up made at the UTC time `at` (the gateway's clock set to it)."""
    from kyc_gateway import clock

    moment = dt.datetime.fromisoformat(at).timestamp()
    monkeypatch.setattr(clock, "now", lambda: moment)
    look_up(correlation_id)


def correlation_ids(answer: dict) -> list[str]:
    return [record["correlationId"] for record in answer["records"]]


def token(at: str, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"at": at, "fingerprint": fingerprint}).encode()).decode()


@pytest.mark.parametrize(
    "next_token",
    [
        "not-a-token!",  # not base64
        base64.urlsafe_b64encode(b"[1, 2").decode(),  # not JSON
        token("2025-03-10T00:00:00.000000Z#lookup-0", local_fingerprint("cladfy|kra_pin|P000000001Z")),  # another's
        token("yesterday", local_fingerprint(f"cladfy|kra_pin|{PIN}")),  # this subject's, but no record's time
    ],
)
def test_a_refused_page_token_is_named_with_why_in_the_envelopes_details(sandboxed_gateway, next_token):
    look_up("lookup-0")

    status, answer = search({"provider": "cladfy", "subject": PIN, "nextToken": next_token})

    assert status == 400
    assert answer["error"]["details"] == [{"field": "nextToken", "issue": NOT_A_TOKEN, "type": "body"}]


@pytest.mark.parametrize(
    ("subject", "kind", "issue"),
    [
        (".", None, "is not the connectFi customer id or the connectFi application id or the connectFi document id"),
        ("cstap_5mBHiIx3QbkvEpjGfKsI9k!", "customer", "is not the connectFi customer id"),
    ],
)
def test_a_subject_no_kind_asked_could_be_is_refused_naming_what_each_kind_is(sandboxed_gateway, subject, kind, issue):
    body = {"provider": "connectfi", "subject": subject} | ({"kind": kind} if kind else {})

    status, answer = search(body)

    assert status == 400
    assert answer["error"]["details"] == [{"field": "subject", "issue": issue, "type": "body"}]


def test_an_unreadable_date_is_refused_saying_what_a_date_must_be(sandboxed_gateway):
    status, answer = search({"provider": "cladfy", "subject": PIN, "from": "last tuesday"})

    assert status == 400
    (detail,) = answer["error"]["details"]
    assert detail["field"] == "from"
    assert detail["issue"].endswith("the date must be an ISO 8601 date or date-time")


def test_a_time_without_an_offset_is_utc_and_one_with_an_offset_honoured_whatever_the_hosts_zone(
    sandboxed_gateway, monkeypatch, machine_zone
):
    # Given a host whose local time is UTC+05:30, and look-ups at midnight and 03:00 UTC
    machine_zone("IST-05:30")
    look_up_at(monkeypatch, "midnight", "2025-03-10T00:00:00+00:00")
    look_up_at(monkeypatch, "three", "2025-03-10T03:00:00+00:00")
    query = {"provider": "cladfy", "subject": PIN}

    # When searched with times that name no offset, UTC's, or another one
    # Then each is the instant it names in UTC, not in the host's zone
    assert correlation_ids(search(query | {"to": "2025-03-10T00:00:00"})[1]) == ["midnight"]
    assert correlation_ids(search(query | {"from": "2025-03-10T03:00:00"})[1]) == ["three"]
    assert correlation_ids(search(query | {"to": "2025-03-10T00:00:00Z"})[1]) == ["midnight"]
    assert correlation_ids(search(query | {"to": "2025-03-10T05:30:00+05:30"})[1]) == ["midnight"]


def test_a_page_reads_one_record_more_than_its_size_from_a_partition_not_all_of_them(sandboxed_gateway):
    # Given five records of the subject, in one partition (one kind, one key version)
    for number in range(5):
        look_up(f"lookup-{number}")
    from kyc_gateway import aws

    read: list[int] = []

    def count(parsed, **_):
        read.append(parsed["Count"])

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.Query", count)
    try:
        # When a page of two is asked for
        status, answer = search({"provider": "cladfy", "subject": PIN, "limit": 2})
    finally:
        events.unregister("after-call.dynamodb.Query", count)

    # Then it is the two newest, with a next page, read with one query of three records (enough to know more follow)
    assert (status, correlation_ids(answer)) == (200, ["lookup-4", "lookup-3"])
    assert answer["nextToken"] is not None
    assert read == [3]


def test_a_page_that_ends_on_the_subjects_last_record_has_no_next_token(sandboxed_gateway):
    for number in range(2):
        look_up(f"lookup-{number}")

    status, answer = search({"provider": "cladfy", "subject": PIN, "limit": 2})

    assert (status, correlation_ids(answer), answer["nextToken"]) == (200, ["lookup-1", "lookup-0"], None)


HTTP_API_REQUEST_ID = "Nn2cPjCrIAMEVeQ="  # an HTTP API's request id, base64-like (its apigw-requestid header)


def look_up_through_an_http_api_without_a_correlation_id() -> None:
    """A KRA PIN look-up as an HTTP API (payload format 2.0) hands it over, the caller sending no X-Correlation-Id."""
    event = {
        "version": "2.0",
        "routeKey": "POST /cladfy/krapin",
        "rawPath": "/cladfy/krapin",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "requestId": HTTP_API_REQUEST_ID,
            "authorizer": {"iam": {"userArn": CALLER}},
            "http": {"method": "POST", "path": "/cladfy/krapin"},
        },
        "body": json.dumps({"pinnumber": PIN}),
        "isBase64Encoded": False,
    }
    answer = invoke(cfn.functions()["CladfyKraPinFunction"], event)
    assert answer["statusCode"] == 200, answer["body"]


def test_the_page_after_a_record_made_through_an_http_api_is_read_with_the_token_answered(sandboxed_gateway):
    # Given a subject's records, the newest made through an HTTP API whose request id is its correlation id
    look_up("lookup-0")
    look_up_through_an_http_api_without_a_correlation_id()

    # When a search's first page ends on that record, and its token is sent back
    status, first = search({"provider": "cladfy", "subject": PIN, "limit": 1})
    assert (status, correlation_ids(first)) == (200, [HTTP_API_REQUEST_ID])
    status, second = search({"provider": "cladfy", "subject": PIN, "limit": 1, "nextToken": first["nextToken"]})

    # Then the next page is answered (the token is the search's own, whatever the request id's characters)
    assert (status, correlation_ids(second)) == (200, ["lookup-0"]), second


def test_a_search_the_table_fails_is_500_and_recorded_as_an_internal_error(sandboxed_gateway, aws, physical_ids):
    # Given the audit table refusing every query (its writes still go through)
    look_up("lookup-0")
    from botocore.exceptions import NoCredentialsError

    from kyc_gateway import aws as gateway_aws

    def refuse(**_):
        raise NoCredentialsError

    events = gateway_aws.client("dynamodb").meta.events
    events.register("before-sign.dynamodb.Query", refuse)
    try:
        # When the subject is searched
        status, answer = search({"provider": "cladfy", "subject": PIN}, correlation_id="failed")
    finally:
        events.unregister("before-sign.dynamodb.Query", refuse)

    # Then the caller gets a 500, and the search is recorded with the same outcome, having found nothing
    assert (status, answer["error"]["code"]) == (500, "internal_error")
    (recorded,) = records_of(aws, physical_ids, "failed")
    assert (recorded["status"], recorded["code"], recorded["recordsFound"]) == (500, "internal_error", 0)
