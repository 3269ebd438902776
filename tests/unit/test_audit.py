"""kyc_gateway.audit on its own: canonical forms, keyed fingerprints, key versions, the item a record becomes (with
no subject in it), its conditional write, retries within the request's time, and what a write that fails leaves."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest

from kyc_gateway import audit, clock, observability
from kyc_gateway.settings import get_settings
from tests.support import emf

KEY = "unit-test-audit-key-0123456789abcdef0123456789"
PIN = "A004416331M"
SUBJECTS = [("customer", "cstap_1"), ("application", "iapp_1")]


class ClientError(Exception):
    """botocore's ClientError as the audit module reads it: an error code in `response`."""

    def __init__(self, code: str, reasons: list | None = None) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}} | ({"CancellationReasons": reasons} if reasons else {})


class Unreadable(Exception):
    """An error answer with no error code in it."""

    def __init__(self) -> None:
        super().__init__("unreadable")
        self.response = {"ResponseMetadata": {"HTTPStatusCode": 502}}


class FakeDynamoDB:
    """Records the writes; fails the first `failures` of them with the given errors."""

    def __init__(self, *failures: Exception) -> None:
        self.failures, self.puts, self.transactions, self.attempts = list(failures), [], [], 0

    def _attempt(self) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)

    def put_item(self, **arguments) -> None:
        self._attempt()
        self.puts.append(arguments)

    def transact_write_items(self, **arguments) -> None:
        self._attempt()
        self.transactions.append(arguments)


@pytest.fixture
def dynamodb(monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE_NAME", "audit-table")
    get_settings.cache_clear()
    monkeypatch.setattr(audit, "keys", lambda: audit.AuditKeys.model_validate({"current": "v1", "v1": KEY}))
    monkeypatch.setattr(clock, "sleep", lambda seconds: None)
    fake = FakeDynamoDB()
    monkeypatch.setattr(audit.aws, "quick_client", lambda service: fake)
    yield fake
    get_settings.cache_clear()


def fields(**more) -> dict:
    return {
        "caller": "arn:aws:iam::123456789012:role/caller",
        "route": "cladfy.krapin",
        "provider": "cladfy",
        "operation": "krapin",
        "status": 200,
        "code": "ok",
        "correlationId": "corr-1",
        **more,
    }


def test_a_kra_pin_is_fingerprinted_trimmed_and_upper_cased():
    assert audit.canonical("cladfy", "kra_pin", f"  {PIN.lower()} ") == f"cladfy|kra_pin|{PIN}"


def test_only_ascii_letters_are_upper_cased_so_a_search_never_finds_another_subject():
    # Unicode's upper case of the dotless i and the long s is "I" and "S": another PIN, another ID number
    assert audit.canonical("cladfy", "kra_pin", "A004416331\u0131") == "cladfy|kra_pin|A004416331\u0131"
    assert audit.searchable("cladfy", "kra_pin", "A004416331\u0131") is None  # and no request could carry it
    assert audit.canonical("cdp", "id", "4:78419955458609\u017f") == "cdp|id|4:78419955458609\u017f"


def test_a_cdp_id_is_its_type_and_its_number_without_spaces_or_hyphens():
    assert audit.canonical("cdp", "id", " 4 : 784-1995 5458609-1 ") == "cdp|id|4:784199554586091"
    assert audit.canonical("cdp", "id", "784199554586091") is None  # no type: not an id
    assert audit.canonical("cdp", "id", "4:") is None


def test_a_value_that_is_blank_once_trimmed_is_no_subject_and_an_undeclared_kind_is_an_error():
    assert audit.canonical("connectfi", "customer", "   ") is None
    with pytest.raises(KeyError):
        audit.canonical("cladfy", "passport", PIN)


def test_a_fingerprint_is_the_keyed_hmac_never_the_plain_hash():
    form = f"cladfy|kra_pin|{PIN}"
    fingerprint = audit.fingerprint(KEY, form)

    assert fingerprint == hmac.new(KEY.encode(), form.encode(), hashlib.sha256).hexdigest()
    assert fingerprint != hashlib.sha256(form.encode()).hexdigest()
    assert fingerprint != audit.fingerprint(KEY + "-rotated", form)


def test_the_key_secret_names_a_held_current_version_and_holds_long_keys_only():
    keys = audit.AuditKeys.model_validate({"current": "v2", "v1": KEY, "v2": KEY[::-1]})
    assert keys.versions == {"v1": KEY, "v2": KEY[::-1]}

    for refused in ({"current": "v3", "v1": KEY}, {"current": "v1", "v1": "short"}, {"v1": KEY}):
        with pytest.raises(ValueError):
            audit.AuditKeys.model_validate(refused)


def test_a_record_is_one_conditional_put_holding_the_fingerprint_and_no_subject(dynamodb):
    audit.record(fields(idempotencyKey=None), [("kra_pin", f" {PIN} ")])

    (put,) = dynamodb.puts
    assert put["TableName"] == "audit-table"
    assert put["ConditionExpression"] == "attribute_not_exists(fingerprint)"
    item = put["Item"]
    assert item["fingerprint"] == {"S": audit.fingerprint(KEY, f"cladfy|kra_pin|{PIN}")}
    assert item["at"]["S"] == item["time"]["S"] + "#corr-1"
    assert (item["subjectKind"], item["keyVersion"], item["status"]) == ({"S": "kra_pin"}, {"S": "v1"}, {"N": "200"})
    assert "idempotencyKey" not in item  # absent, not null
    assert PIN not in json.dumps(item) and PIN.lower() not in json.dumps(item)


def test_several_subjects_are_one_transaction_of_conditional_puts_each_subject_once(dynamodb):
    subjects = [("customer", "cstap_1"), ("application", "iapp_1"), ("customer", "cstap_1")]
    audit.record(fields(provider="connectfi", route="connectfi.status", operation="status"), subjects)

    (transaction,) = dynamodb.transactions
    puts = [entry["Put"] for entry in transaction["TransactItems"]]
    assert [put["Item"]["subjectKind"]["S"] for put in puts] == ["customer", "application"]
    assert all(put["ConditionExpression"] == "attribute_not_exists(fingerprint)" for put in puts)
    assert "cstap_1" not in json.dumps(puts) and "iapp_1" not in json.dumps(puts)


def test_subjects_written_differently_that_are_one_subject_are_one_item(dynamodb):
    # Given a CDP onboarding naming one ID twice, spaced differently (one DynamoDB item may not be put twice in one
    # transaction: the write would fail on every attempt)
    subjects = [("id", "4:784-1995-5458609-1"), ("id", " 4 : 784199554586091 ")]

    audit.record(fields(provider="cdp", route="cdp.onboard_individual", operation="onboard_individual"), subjects)

    # Then it is one conditional put, under the ID's one fingerprint
    assert dynamodb.transactions == []
    (put,) = dynamodb.puts
    assert put["Item"]["fingerprint"] == {"S": audit.fingerprint(KEY, "cdp|id|4:784199554586091")}


def test_a_failed_write_is_retried_and_one_that_already_went_through_is_not_a_failure(dynamodb, capsys):
    dynamodb.failures = [
        ClientError("ProvisionedThroughputExceededException"),
        ClientError("ConditionalCheckFailedException"),
    ]
    observability.request_started(None)

    audit.record(fields(), [("kra_pin", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    written = capsys.readouterr().out
    assert dynamodb.attempts == 2  # the second attempt found the record written by the first
    assert "AuditWriteFailures" not in emf.named(written)
    assert "audit_records_not_written" not in written


def test_a_transaction_refused_for_some_of_its_items_only_is_a_failure_not_a_record_written(dynamodb, capsys):
    # Given a transaction DynamoDB cancels because one item's key holds another record: nothing of it was written
    partly = [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}]
    dynamodb.failures = [ClientError("TransactionCanceledException", partly)] * 3
    observability.request_started(None)

    audit.record(fields(provider="connectfi", route="connectfi.status", operation="status"), SUBJECTS)
    observability.record_outcome("connectfi.status", "ok", 200, 1.0)

    # Then the record is logged and counted, not taken for written
    written = capsys.readouterr().out
    (line,) = emf.log_lines(written, "request completed")
    assert line["audit_records_not_written"][0]["failure"] == "TransactionCanceledException"
    assert "AuditWriteFailures" in emf.named(written)


def test_a_transaction_whose_every_item_is_there_already_went_through(dynamodb, capsys):
    everyone = [{"Code": "ConditionalCheckFailed"}, {"Code": "ConditionalCheckFailed"}]
    dynamodb.failures = [ClientError("InternalServerError"), ClientError("TransactionCanceledException", everyone)]
    observability.request_started(None)

    audit.record(fields(provider="connectfi", route="connectfi.status", operation="status"), SUBJECTS)
    observability.record_outcome("connectfi.status", "ok", 200, 1.0)

    assert dynamodb.attempts == 2 and "AuditWriteFailures" not in emf.named(capsys.readouterr().out)


def test_a_write_is_not_retried_past_the_requests_deadline(dynamodb, monkeypatch, capsys):
    dynamodb.failures = [ClientError("InternalServerError")] * 3
    observability.request_started(None)
    monkeypatch.setattr(clock, "time_left", lambda: 1.0)  # less than one more attempt may take

    audit.record(fields(), [("kra_pin", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    assert dynamodb.attempts == 1
    (line,) = emf.log_lines(capsys.readouterr().out, "request completed")
    (record,) = line["audit_records_not_written"]
    assert record["failure"] == "InternalServerError"


@pytest.mark.parametrize("error", [ConnectionRefusedError("refused"), Unreadable()], ids=["no-answer", "no-code"])
def test_a_failure_without_an_error_code_is_retried_and_logged_under_its_type(dynamodb, capsys, error):
    # Given a write that never reaches DynamoDB (no `response`), or is answered without an error code, every time
    dynamodb.failures = [error] * 3
    observability.request_started(None)

    audit.record(fields(), [("kra_pin", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    # Then every attempt is made, and the record is logged under the error's type
    assert dynamodb.attempts == 3
    (line,) = emf.log_lines(capsys.readouterr().out, "request completed")
    (record,) = line["audit_records_not_written"]
    assert record["failure"] == type(error).__name__


@pytest.mark.parametrize(("jitter", "sleeps"), [(min, [0.025, 0.05]), (max, [0.075, 0.15])], ids=["least", "most"])
def test_retries_wait_a_doubling_backoff_from_half_to_one_and_a_half_times_its_length(
    dynamodb, monkeypatch, jitter, sleeps
):
    # Given a write that fails every time, and the random jitter at its least or its most
    dynamodb.failures = [ClientError("InternalServerError")] * 3
    monkeypatch.setattr(random, "uniform", jitter)
    slept = []
    monkeypatch.setattr(clock, "sleep", slept.append)
    observability.request_started(None)  # a request without a deadline: every attempt is made

    audit.record(fields(), [("kra_pin", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    # Then the waits between its three attempts are 50 ms then 100 ms, jittered
    assert slept == pytest.approx(sleeps)


def unwritten_record(capsys) -> tuple[str, dict]:
    """A request's audit record of a KRA PIN, then what the request's log line says was not written: (everything
    written, the one record not written)."""
    observability.request_started(None)
    audit.record(fields(), [("kra_pin", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    written = capsys.readouterr().out
    (line,) = emf.log_lines(written, "request completed")
    (record,) = line["audit_records_not_written"]
    return written, record


def test_without_its_table_a_record_is_logged_naming_the_missing_setting(dynamodb, monkeypatch, capsys):
    monkeypatch.delenv("AUDIT_TABLE_NAME")
    get_settings.cache_clear()

    written, record = unwritten_record(capsys)

    assert record["failure"] == "AUDIT_TABLE_NAME is not configured"
    assert dynamodb.attempts == 0 and "AuditWriteFailures" in emf.named(written)


def test_a_record_never_written_is_in_the_requests_log_line_with_fingerprints_only_and_counted(dynamodb, capsys):
    dynamodb.failures = [ClientError("AccessDeniedException")] * 3

    written, record = unwritten_record(capsys)

    assert dynamodb.attempts == 3
    assert record["subjects"] == [{"fingerprint": audit.fingerprint(KEY, f"cladfy|kra_pin|{PIN}"), "kind": "kra_pin"}]
    assert record["at"] == f"{record['time']}#corr-1"  # the sort key it would have had, to put it in by hand
    assert (record["caller"], record["route"], record["code"], record["keyVersion"]) == (
        fields()["caller"],
        "cladfy.krapin",
        "ok",
        "v1",
    )
    assert PIN not in written
    assert emf.named(written)["AuditWriteFailures"] == {"service": observability.SERVICE}


def test_without_its_key_a_record_is_logged_without_subjects_and_counted(dynamodb, monkeypatch, capsys):
    def unreadable():
        raise RuntimeError("no secret")

    monkeypatch.setattr(audit, "keys", unreadable)

    written, record = unwritten_record(capsys)

    assert (record["subjects"], record["failure"]) == ([], "audit key unavailable (RuntimeError)")
    assert dynamodb.attempts == 0 and PIN not in written
    assert "AuditWriteFailures" in emf.named(written)


def test_the_caller_is_the_iam_principal_api_gateway_authenticated():
    rest = {"requestContext": {"identity": {"userArn": "arn:aws:iam::1:user/a", "caller": "AIDA"}}}
    http_api = {"requestContext": {"authorizer": {"iam": {"userArn": "arn:aws:iam::1:role/b"}}}}

    assert audit.caller_of(rest) == "arn:aws:iam::1:user/a"
    assert audit.caller_of(http_api) == "arn:aws:iam::1:role/b"
    assert audit.caller_of({"requestContext": {"identity": {"caller": "AIDA"}}}) == "AIDA"
    assert audit.caller_of({}) == "unauthenticated"


def test_a_subject_kind_its_provider_does_not_declare_never_changes_the_answer_and_is_logged_and_counted(
    dynamodb, capsys
):
    # Given a route whose request names a kind the registry does not declare for its provider (a bug)
    observability.request_started(None)

    # When its record is written, after a provider call that may have been a write
    audit.record(fields(), [("passport", PIN)])
    observability.record_outcome("cladfy.krapin", "ok", 200, 1.0)

    # Then nothing raises: the record is in the log line, without the value, and counted
    written = capsys.readouterr().out
    (line,) = emf.log_lines(written, "request completed")
    (record,) = line["audit_records_not_written"]
    assert (record["subjects"], record["failure"]) == ([], "undeclared subject kind 'passport'")
    assert dynamodb.attempts == 0 and PIN not in written
    assert "AuditWriteFailures" in emf.named(written)


@pytest.mark.parametrize(
    ("provider", "kind", "request_format"),
    [
        ("cladfy", "kra_pin", "kyc_gateway.providers.cladfy:KraPin"),
        ("signzy", "onboarding_id", "kyc_gateway.providers.signzy:ObjectId"),
        ("connectfi", "customer", "kyc_gateway.providers.connectfi.common:ConnectFiId"),
        ("connectfi", "application", "kyc_gateway.providers.connectfi.common:ConnectFiId"),
        ("connectfi", "document", "kyc_gateway.providers.connectfi.common:DocumentId"),
    ],
)
def test_a_subject_is_searchable_exactly_when_a_request_of_the_provider_could_carry_it(provider, kind, request_format):
    # Given the provider's own check of the value in its requests
    import importlib

    from pydantic import TypeAdapter, ValidationError

    module, name = request_format.split(":")
    check = TypeAdapter(getattr(importlib.import_module(module), name))

    def accepted(value: str) -> bool:
        try:
            check.validate_python(value)
        except ValidationError:
            return False
        return True

    # Then every value it accepts is a subject, and none it refuses (but what trimming and case make one)
    values = [
        PIN, PIN.lower(), f" {PIN} ", "A00441633M", "B004416331M", "A004416331\u0131",
        "65a1b2c3d4e5f60718293a4b", "65A1B2C3D4E5F60718293A4B", "65a1b2c3d4e5f60718293a4",
        "cstap_5mBHiIx3QbkvEpjGfKsI9k", "iapp_1", "x" * 36, "x" * 37, "bad id!", "doc-1",
        "3f2b8c1e-9d4a-4f6e-8b7a-2c1d0e9f8a7b", ".", "..", "...", "a/b", "line\nbreak",
        # a value holding the form's separator, each side of which a request could carry, is none of them
        f"{PIN}|{PIN}", "iapp_1|iapp_2", "65a1b2c3d4e5f60718293a4b|65a1b2c3d4e5f60718293a4b",
    ]  # fmt: skip
    for value in values:
        trimmed = value.strip()
        assert accepted(trimmed) == (audit.searchable(provider, kind, value) is not None), value
