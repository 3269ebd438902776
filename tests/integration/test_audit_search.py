"""`POST /audit/search` (docs/audit.md): a subject's records newest first, in a time range, page by page; refusals
in the gateway's envelope; every key version still held; each search itself recorded."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from local.functions import cold_start
from tests.support.audit import COMPLIANCE_ROLE, call_as, local_fingerprint, records, records_of, search

PIN = "A004416331M"
CALLER = "arn:aws:iam::123456789012:role/onboarding-service"


def look_up(correlation_id: str, pin: str = PIN) -> None:
    answer = call_as("CladfyKraPinFunction", {"pinnumber": pin}, caller=CALLER, correlation_id=correlation_id)
    assert answer["statusCode"] == 200, answer["body"]


@pytest.fixture
def at_times(monkeypatch):
    """Look-ups made at the given UTC times (the gateway's clock set to each)."""
    from kyc_gateway import clock

    def make(*times: str) -> None:
        for number, time in enumerate(times):
            moment = dt.datetime.fromisoformat(time).timestamp()
            monkeypatch.setattr(clock, "now", lambda moment=moment: moment)
            look_up(f"lookup-{number}")
        monkeypatch.undo()

    return make


def correlation_ids(answer: dict) -> list[str]:
    return [record["correlationId"] for record in answer["records"]]


def test_a_subjects_records_come_newest_first_whatever_way_the_subject_is_written(sandboxed_gateway):
    for number in range(3):
        look_up(f"lookup-{number}")

    status, answer = search({"provider": "cladfy", "subject": f"  {PIN.lower()} "})

    assert status == 200
    assert correlation_ids(answer) == ["lookup-2", "lookup-1", "lookup-0"]
    assert answer["nextToken"] is None
    assert {record["caller"] for record in answer["records"]} == {CALLER}
    assert {record["fingerprint"] for record in answer["records"]} == {local_fingerprint(f"cladfy|kra_pin|{PIN}")}


def test_every_answered_record_names_each_field_of_an_operation_null_where_it_had_none(sandboxed_gateway):
    # Given a read (no Idempotency-Key) whose provider answered no error code
    look_up("lookup-fields")

    # When its subject is searched
    status, answer = search({"provider": "cladfy", "subject": PIN})

    # Then the record names every field, the ones the operation had none for as null
    (record,) = answer["records"]
    assert status == 200
    assert (record["providerCode"], record["idempotencyKey"]) == (None, None)
    assert (record["providerStatus"], record["status"], record["code"]) == (200, 200, "ok")
    assert {"time", "caller", "route", "provider", "operation", "correlationId"} <= {
        name for name, value in record.items() if value is not None
    }


def test_a_subject_without_records_is_an_empty_list(sandboxed_gateway):
    look_up("someone-else")

    assert search({"provider": "cladfy", "subject": "P000000001Z"}) == (200, {"records": [], "nextToken": None})


def test_from_and_to_bound_the_records_inclusively_a_date_alone_meaning_its_whole_day(sandboxed_gateway, at_times):
    at_times("2025-01-10T12:00:00+00:00", "2025-02-10T23:59:59+00:00", "2025-03-10T00:00:00+00:00")
    query = {"provider": "cladfy", "subject": PIN}

    assert correlation_ids(search(query | {"from": "2025-02-01"})[1]) == ["lookup-2", "lookup-1"]
    assert correlation_ids(search(query | {"to": "2025-02-10"})[1]) == ["lookup-1", "lookup-0"]
    assert correlation_ids(search(query | {"from": "2025-02-10T23:59:59Z", "to": "2025-03-09"})[1]) == ["lookup-1"]
    # an offset is honoured: 02:00 at +02:00 is lookup-2's very time (included), 02:00 at +03:00 an hour before it
    assert correlation_ids(search(query | {"to": "2025-03-10T02:00:00+02:00"})[1]) == [
        "lookup-2",
        "lookup-1",
        "lookup-0",
    ]
    assert correlation_ids(search(query | {"to": "2025-03-10T02:00:00+03:00"})[1]) == ["lookup-1", "lookup-0"]
    assert search(query | {"from": "2025-04-01"}) == (200, {"records": [], "nextToken": None})


def test_a_range_from_a_year_before_1000_still_holds_todays_records(sandboxed_gateway):
    look_up("lookup-0")

    answer = search({"provider": "cladfy", "subject": PIN, "from": "0999-01-01", "to": "9999-12-31"})[1]

    assert correlation_ids(answer) == ["lookup-0"]


def test_pages_follow_each_other_through_next_token_without_gaps_or_repeats(sandboxed_gateway):
    for number in range(5):
        look_up(f"lookup-{number}")
    query, seen, pages = {"provider": "cladfy", "subject": PIN, "limit": 2}, [], 0

    token = None
    while True:
        status, answer = search(query | ({"nextToken": token} if token else {}))
        assert status == 200 and len(answer["records"]) <= 2
        seen += correlation_ids(answer)
        pages += 1
        token = answer["nextToken"]
        if token is None:
            break

    assert seen == [f"lookup-{number}" for number in (4, 3, 2, 1, 0)]
    assert pages == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "nemo", "subject": PIN}, "provider"),
        ({"provider": "cladfy", "subject": PIN, "kind": "passport"}, "body"),
        ({"provider": "cdp", "subject": "784199554586091", "kind": "id"}, "subject"),  # an ID needs its type
        # a value no request of the kind could carry: a mistyped PIN, a short onboarding id, a connectFi id with "!"
        ({"provider": "cladfy", "subject": "A00441633M"}, "subject"),
        ({"provider": "signzy", "subject": "65a1b2c3d4e5f60718293a4"}, "subject"),
        ({"provider": "connectfi", "subject": "cstap_5mBHiIx3QbkvEpjGfKsI9k!", "kind": "customer"}, "subject"),
        ({"provider": "cladfy", "subject": PIN, "from": "last tuesday"}, "from"),
        ({"provider": "cladfy", "subject": PIN, "from": "2025-03-01", "to": "2025-02-01"}, "body"),
        ({"provider": "cladfy", "subject": PIN, "from": "0001-01-01T00:00:00+01:00"}, "from"),  # before year 1 UTC
        ({"provider": "cladfy", "subject": PIN, "to": "9999-12-31T23:00:00-05:00"}, "to"),  # after year 9999 UTC
        ({"provider": "cladfy", "subject": PIN, "nextToken": "not-a-token!"}, "nextToken"),
        ({"provider": "cladfy", "subject": PIN, "nextToken": "eyJhdCI6IDF9"}, "nextToken"),  # {"at": 1}
        ({"provider": "cladfy", "subject": PIN, "limit": 0}, "limit"),
        ({"provider": "cladfy"}, "subject"),
        ({"provider": "cladfy", "subject": PIN, "name": "Zelda"}, "name"),
    ],
)
def test_an_unknown_provider_or_kind_a_bad_date_or_token_is_400_in_the_envelope(
    sandboxed_gateway, aws, physical_ids, body, field
):
    status, answer = search(body, correlation_id="refused")

    assert status == 400
    assert answer["error"]["code"] == "validation_error"
    assert field in {detail["field"] for detail in answer["error"]["details"]}
    # And only a refused page token is recorded: the search named a subject; nothing else refused read one
    recorded = [(item["status"], item["code"]) for item in records_of(aws, physical_ids, "refused")]
    assert recorded == ([(400, "validation_error")] if field == "nextToken" else [])


def test_a_page_token_of_another_subjects_search_is_refused_and_the_refusal_recorded(
    sandboxed_gateway, aws, physical_ids
):
    for number in range(2):
        look_up(f"lookup-{number}")
    token = search({"provider": "cladfy", "subject": PIN, "limit": 1})[1]["nextToken"]

    probe = {"provider": "cladfy", "subject": "P000000001Z", "nextToken": token}
    status, answer = search(probe, correlation_id="probe")

    assert (status, answer["error"]["details"][0]["field"]) == (400, "nextToken")
    # And the refused search is recorded under the subject it named, as a search that found nothing
    (recorded,) = records_of(aws, physical_ids, "probe")
    assert recorded["fingerprint"] == f"search|{local_fingerprint('cladfy|kra_pin|P000000001Z')}"
    assert (recorded["status"], recorded["code"], recorded["recordsFound"]) == (400, "validation_error", 0)


def test_each_search_is_recorded_with_who_searched_which_fingerprint(sandboxed_gateway, aws, physical_ids):
    look_up("lookup-0")

    search({"provider": "cladfy", "subject": PIN}, correlation_id="search-1")

    fingerprint = local_fingerprint(f"cladfy|kra_pin|{PIN}")
    (recorded,) = [item for item in records(aws, physical_ids) if item["correlationId"] == "search-1"]
    assert recorded["fingerprint"] == f"search|{fingerprint}"
    assert (recorded["caller"], recorded["route"], recorded["provider"]) == (COMPLIANCE_ROLE, "audit.search", "cladfy")
    assert (recorded["operation"], recorded["status"]) == ("search", 200)
    assert (recorded["code"], recorded["recordsFound"]) == ("ok", 1)
    # and a search's record is not one of the subject's own: searching again finds the look-up only
    assert correlation_ids(search({"provider": "cladfy", "subject": PIN})[1]) == ["lookup-0"]


def test_a_search_tries_every_key_version_held_after_a_rotation(sandboxed_gateway, aws, physical_ids):
    # Given a record under v1, then the key rotated: v2 current, v1 still held
    look_up("before-rotation")
    from tests.conftest import SECRETS

    rotated = {"current": "v2", "v1": SECRETS["auditkey"]["v1"], "v2": "rotated-audit-key-for-the-test-0123456789"}
    aws.client("secretsmanager").put_secret_value(
        SecretId=physical_ids["AuditKeySecret"], SecretString=json.dumps(rotated)
    )
    cold_start()
    look_up("after-rotation")

    # Then the new record is under v2's fingerprint, and a search finds both
    (after,) = [item for item in records(aws, physical_ids) if item["correlationId"] == "after-rotation"]
    assert after["keyVersion"] == "v2"
    assert after["fingerprint"] == local_fingerprint(f"cladfy|kra_pin|{PIN}", "v2", rotated)
    answer = search({"provider": "cladfy", "subject": PIN}, correlation_id="search-both")[1]
    assert correlation_ids(answer) == ["after-rotation", "before-rotation"]
    assert [record["keyVersion"] for record in answer["records"]] == ["v2", "v1"]
    # And the search's own record, under each fingerprint it read, names the key version that made that fingerprint
    own = {item["fingerprint"]: item["keyVersion"] for item in records_of(aws, physical_ids, "search-both")}
    assert own == {
        f"search|{local_fingerprint(f'cladfy|kra_pin|{PIN}', version, rotated)}": version for version in ("v1", "v2")
    }


def test_a_cdp_id_is_found_by_type_and_number_however_the_number_is_spaced(sandboxed_gateway):
    answer = call_as(
        "CdpCustomerLookupFunction", {"idNumber": "784199554586091", "idType": "4"}, caller=CALLER, correlation_id="l"
    )
    assert answer["statusCode"] == 200

    by_kind = search({"provider": "cdp", "kind": "id", "subject": "4:784-1995-5458609-1"})[1]
    any_kind = search({"provider": "cdp", "subject": "4: 784 1995 5458609 1"})[1]

    assert correlation_ids(by_kind) == correlation_ids(any_kind) == ["l"]


def test_a_connectfi_application_is_found_without_naming_its_kind(sandboxed_gateway):
    started = call_as(
        "ConnectFiIdentificationFunction",
        {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "ref1"},
        caller=CALLER,
        correlation_id="started",
    )
    application_id = json.loads(started["body"])["data"]["applicationId"]

    answer = search({"provider": "connectfi", "subject": application_id})[1]

    assert [(record["correlationId"], record["subjectKind"]) for record in answer["records"]] == [
        ("started", "application")
    ]
