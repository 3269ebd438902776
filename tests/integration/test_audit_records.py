"""The audit trail's records (docs/audit.md): every provider operation leaves exactly one record per subject, with
the caller, the route, the gateway's and the provider's answers and the correlation id, its subjects only as keyed
fingerprints; replays are recorded (webhook confirmations and reconciliation checks: routes/
test_connectfi_audit_records.py); a record the table does not take never changes the caller's answer, and is logged
and alarmed instead."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from local.functions import cold_start
from project import template as cfn
from tests.integration.test_deployed_template import transformed
from tests.integration.test_rollback_drill import ENVIRONMENT, watched
from tests.support import emf
from tests.support.audit import call_as, local_fingerprint, records, records_of
from tests.support.routes import provider_routes
from tests.support.samples import leaves

CALLER = "arn:aws:sts::123456789012:assumed-role/onboarding-service/task-7"
CUSTOMER, APPLICATION = "cstap_5mBHiIx3QbkvEpjGfKsI9k", "iapp_1BGgJeDQJFo5MCup15zq9A"
RETENTION_SECONDS = 1828 * 86400  # AuditRetentionDays' default

# Each provider route's subjects, as (kind, canonical value) from its sample request (events/) and its answer: the
# canonical forms written out here, not computed by the gateway's code.
Expected = Callable[[dict, dict], set[tuple[str, str]]]
EXPECTED_SUBJECTS: dict[str, Expected] = {
    "CladfyKraPinFunction": lambda body, answer: {("kra_pin", body["pinnumber"].strip().upper())},
    "SignzyRepushFunction": lambda body, answer: {("onboarding_id", body["onboardingId"].lower())},
    "CdpCustomerLookupFunction": lambda body, answer: {
        ("id", f"{body['idType']}:{body['idNumber']}"),
        ("ecrn", answer["data"]["ecrn"]),  # the customer found: a search by ECRN finds its lookups too
    },
    "CdpOnboardingFunction": lambda body, answer: {
        *{("id", f"{detail['id_type']}:{detail['id_number']}") for detail in body["id_details"]},
        ("ecrn", answer["data"]["ecrn"]),
    },
    "ConnectFiIdentificationFunction": lambda body, answer: {
        ("customer", body["customerId"]),
        ("application", answer["data"]["applicationId"]),
    },
    "ConnectFiStatusFunction": lambda body, answer: {
        ("customer", body["customerId"]),
        ("application", body["applicationId"]),
    },
    "ConnectFiDocumentsFunction": lambda body, answer: {("document", answer["documentId"])},
    "ConnectFiUpdateFunction": lambda body, answer: {
        ("customer", body["customerId"]),
        ("application", body["applicationId"]),
        *{("document", document["documentId"]) for document in body["documents"]},
    },
}

# Each provider route's provider operations, as its records, metrics (ProviderLatency's Operation) and logs name them.
OPERATIONS = {
    "CladfyKraPinFunction": {"krapin"},
    "SignzyRepushFunction": {"repush"},
    "CdpCustomerLookupFunction": {"lookup"},
    "CdpOnboardingFunction": {"onboarding"},
    "ConnectFiIdentificationFunction": {"identification"},
    "ConnectFiStatusFunction": {"status"},
    "ConnectFiDocumentsFunction": {"document_generate", "document_upload"},
    "ConnectFiUpdateFunction": {"update"},
}


def test_every_provider_route_has_its_expected_subjects_here():
    assert {route.function for route in provider_routes()} == set(EXPECTED_SUBJECTS) == set(OPERATIONS)


@pytest.mark.parametrize("route", provider_routes(), ids=str)
def test_each_provider_route_writes_one_record_per_subject_with_its_answers_and_no_personal_datum(
    sandboxed_gateway, aws, physical_ids, route
):
    # Given a provider route called by an IAM principal under a correlation id
    before = time.time()
    answer = call_as(route.function, route.body, caller=CALLER, correlation_id=f"audit-{route.function}")
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200, answer["body"]

    # Then its records are exactly one per expected subject, each under the subject's keyed fingerprint
    written = records_of(aws, physical_ids, f"audit-{route.function}")
    provider = route.provider.name
    expected = {
        (kind, local_fingerprint(f"{provider}|{kind}|{value}"))
        for kind, value in EXPECTED_SUBJECTS[route.function](route.body, body)
    }
    assert {(item["subjectKind"], item["fingerprint"]) for item in written} == expected
    assert len(written) == len(expected)
    # And each says who, what, through which route and what both sides answered
    spec_route = cfn.functions()[route.function]
    for item in written:
        assert item["caller"] == CALLER
        assert (item["apiRequestId"], item["functionVersion"]) == (f"api-audit-{route.function}", "$LATEST")
        assert item["provider"] == provider and item["route"].startswith(f"{provider}.")
        assert item["operation"] == item["route"].partition(".")[2]
        assert (item["status"], item["code"], item["providerStatus"]) == (200, "ok", 200)
        assert item["keyVersion"] == "v1"
        assert item["at"] == f"{item['time']}#audit-{route.function}"
        assert item["providerCalls"] and all(set(call) == {"operation", "status"} for call in item["providerCalls"])
        assert int(before) + RETENTION_SECONDS <= item["expiresAt"] <= time.time() + RETENTION_SECONDS
        assert "replay" not in item and "idempotencyKey" not in item
        assert item.get("providerRequestId") == provider_request_id(body)
        operations = {call["operation"] for call in item["providerCalls"]} - {"token", "login"}  # a token's calls
        assert operations == OPERATIONS[route.function]
        assert spec_route.api_events  # a route API Gateway serves
    # And no value of the request or of the provider's answer is in them, but the provider's request id
    request_ids = {str(body.get("requestId")), str(body.get("request_id"))}
    stored = json.dumps(written)
    for value in {leaf for leaf in leaves(route.body) + leaves(body) if len(leaf) >= 6} - request_ids:
        assert value not in stored, f"{value!r} is in an audit record"


def provider_request_id(answer: dict) -> str | None:
    """The request id the provider's answer carries (CDP's and Cladfy's `request_id`, connectFi's `requestId`)."""
    return answer.get("request_id") or answer.get("requestId")


def test_a_record_names_the_published_version_that_wrote_it(sandboxed_gateway, aws, physical_ids, monkeypatch):
    # Given an instance of published version 12 (Lambda's AWS_LAMBDA_FUNCTION_VERSION)
    from kyc_gateway import observability

    monkeypatch.setattr(observability, "FUNCTION_VERSION", "12")

    # When it answers a provider route
    call_as("CladfyKraPinFunction", {"pinnumber": "A004416331M"}, caller=CALLER, correlation_id="audit-version")

    # Then its record says which code answered
    (item,) = records_of(aws, physical_ids, "audit-version")
    assert item["functionVersion"] == "12"


def test_a_failed_operation_is_recorded_with_the_gateways_and_the_providers_codes(sandboxed_gateway, aws, physical_ids):
    # Given the sandbox's KRA PIN it does not know (Cladfy's documented not-found)
    answer = call_as("CladfyKraPinFunction", {"pinnumber": "A000000404Z"}, caller=CALLER, correlation_id="audit-404")

    (item,) = records_of(aws, physical_ids, "audit-404")
    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 404
    assert (item["status"], item["code"]) == (404, error["code"])
    assert item["providerStatus"] == 200  # Cladfy answers its not-found with HTTP 200
    # And Cladfy's request id (its not-found has no code of its own), as the caller was told them
    assert (item.get("providerCode"), item["providerRequestId"]) == (None, error["providerRequestId"])
    assert len(item["providerRequestId"]) == 35


def test_a_request_refused_before_any_provider_call_leaves_no_record(sandboxed_gateway, aws, physical_ids):
    answer = call_as("CladfyKraPinFunction", {"pinnumber": "not a pin"}, caller=CALLER, correlation_id="refused")

    assert answer["statusCode"] == 400
    assert records(aws, physical_ids) == []


def test_a_replay_is_recorded_as_a_replay_without_a_provider_call(sandboxed_gateway, aws, physical_ids):
    # Given a repush, then the same request under the same Idempotency-Key
    body, key = {"onboardingId": "65a1b2c3d4e5f60718293a4b"}, (("Idempotency-Key", "order-77"),)
    call_as("SignzyRepushFunction", body, caller=CALLER, correlation_id="first", headers=key)
    again = call_as("SignzyRepushFunction", body, caller=CALLER, correlation_id="again", headers=key)

    # Then the second is recorded as a replay under the same subject, with the key and no provider call
    assert again["headers"]["Idempotent-Replayed"] == "true"
    (first,), (replayed,) = records_of(aws, physical_ids, "first"), records_of(aws, physical_ids, "again")
    assert first["fingerprint"] == replayed["fingerprint"]
    assert (first["idempotencyKey"], replayed["idempotencyKey"]) == ("order-77", "order-77")
    assert "replay" not in first and replayed["replay"] is True
    assert "providerCalls" not in replayed and first["providerCalls"]  # the replay reached no provider
    assert (replayed["status"], replayed["code"]) == (200, "ok")


def test_a_replay_is_recorded_with_the_providers_request_id_from_the_stored_answer(
    sandboxed_gateway, aws, physical_ids
):
    # Given an identification started under an Idempotency-Key, then asked again under the same key
    body, key = {"customerId": CUSTOMER, "reference": "extRefReplay1"}, (("Idempotency-Key", "start-9"),)
    first = call_as("ConnectFiIdentificationFunction", body, caller=CALLER, correlation_id="start", headers=key)
    again = call_as("ConnectFiIdentificationFunction", body, caller=CALLER, correlation_id="restart", headers=key)

    # Then the replay's records carry connectFi's request id of the stored answer (no provider call was made)
    assert again["headers"]["Idempotent-Replayed"] == "true"
    request_id = provider_request_id(json.loads(first["body"]))
    assert request_id and provider_request_id(json.loads(again["body"])) == request_id
    replayed = records_of(aws, physical_ids, "restart")
    assert replayed and {item["providerRequestId"] for item in replayed} == {request_id}
    assert {item["providerRequestId"] for item in records_of(aws, physical_ids, "start")} == {request_id}


def test_a_record_the_table_refuses_is_logged_and_alarmed_and_the_caller_still_gets_its_answer(
    sandboxed_gateway, aws, physical_ids, monkeypatch, logs
):
    # Given an audit table the functions cannot write to, and the metric namespace the function has deployed
    from kyc_gateway import observability

    deployed_environment = cfn.function_environment("CladfyKraPinFunction", physical_ids, {"Environment": ENVIRONMENT})
    monkeypatch.setattr(observability, "_NAMESPACE", deployed_environment["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("AUDIT_TABLE_NAME", "kyc-gateway-local-audit-gone")
    cold_start()

    # When a KRA PIN is looked up
    answer = call_as("CladfyKraPinFunction", {"pinnumber": "A004416331M"}, caller=CALLER, correlation_id="lost")

    # Then the caller gets its answer, and the table has nothing
    assert answer["statusCode"] == 200, answer["body"]
    assert records(aws, physical_ids) == []
    # And the request's log line holds the whole record, its subject only as its fingerprint
    written = logs()
    (line,) = [line for line in emf.log_lines(written, "request completed") if line["route"] == "cladfy.krapin"]
    (record,) = line["audit_records_not_written"]
    assert record["subjects"] == [{"fingerprint": local_fingerprint("cladfy|kra_pin|A004416331M"), "kind": "kra_pin"}]
    assert (record["caller"], record["correlationId"], record["code"]) == (CALLER, "lost", "ok")
    assert record["failure"] == "ResourceNotFoundException"
    assert "A004416331M" not in written
    # And the metric written is the one the deployed alarm watches (read from the transformed template)
    alarm = transformed(ENVIRONMENT)["Resources"]["AuditWriteFailuresAlarm"]["Properties"]
    namespace, name, dimensions = watched(alarm)
    failures = [metric for metric in emf.metrics(written) if metric.name == name]
    assert [(metric.namespace, metric.dimension_values, sum(metric.values)) for metric in failures] == [
        (namespace, dimensions, 1.0)
    ]
    assert alarm["Threshold"] <= 1 and alarm["EvaluationPeriods"] == 1  # one lost record is worth the alarm


def test_records_of_one_subject_at_one_instant_are_kept_apart_by_correlation_id_and_never_replaced(
    sandboxed_gateway, aws, physical_ids, monkeypatch
):
    # Given the gateway's clock stopped: every record below has the very same time
    from kyc_gateway import clock

    monkeypatch.setattr(clock, "now", lambda: 1_800_000_000.123456)
    pin = {"pinnumber": "A004416331M"}

    # When two look-ups of one PIN are recorded under two correlation ids, then a third reuses the first's
    call_as("CladfyKraPinFunction", pin, caller=CALLER, correlation_id="same-second-1")
    call_as("CladfyKraPinFunction", pin, caller=CALLER, correlation_id="same-second-2")
    call_as("CladfyKraPinFunction", pin, caller="arn:aws:iam::123456789012:role/other", correlation_id="same-second-1")

    # Then both records are there, and the first was not overwritten by the third (same key: refused)
    written = records(aws, physical_ids)
    assert sorted(item["correlationId"] for item in written) == ["same-second-1", "same-second-2"]
    assert {item["caller"] for item in written} == {CALLER}
    assert len({item["time"] for item in written}) == 1


@pytest.mark.parametrize(
    ("id_details", "data", "expected"),
    [
        pytest.param(
            [
                {"id_type": None, "id_number": "X1000001"},  # no type
                {"id_type": "4"},  # no number
                {"id_number": "990000001"},  # no type at all
                "not an object",
                {"id_type": 4, "id_number": "784-1999-5545860-1"},
            ],
            {"aml_scan_status": "Accepted", "ecrn": "ECRN-1"},
            {("id", "4:784199955458601"), ("ecrn", "ECRN-1")},
            id="only the entries that name a type and a number",
        ),
        pytest.param(None, {"ecrn": "ECRN-7766"}, {("ecrn", "ECRN-7766")}, id="no id_details"),
        pytest.param(
            {"id_type": 4, "id_number": "784199554586091"},
            {"ecrn": "ECRN-7767"},
            {("id", "4:784199554586091"), ("ecrn", "ECRN-7767")},
            id="one id as an object, not a list",
        ),
    ],
)
def test_a_cdp_onboarding_is_recorded_under_the_subjects_it_names_whatever_else_its_body_holds(
    gateway, aws, physical_ids, id_details, data, expected
):
    from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_FN, ONBOARDING_BODY, TOKEN, token_reply

    # Given CDP onboarding a body whose id_details it owns (the gateway forwards any object) and answering `data`
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, {"status": "success", "data": data})
    body = {**ONBOARDING_BODY, "id_details": id_details}

    answer = call_as(ONBOARD_FN, body, caller=CALLER, correlation_id="audit-odd-id-details")

    # Then the record is kept under each subject the body and the answer name, and only those
    assert answer["statusCode"] == 200, answer["body"]
    written = records_of(aws, physical_ids, "audit-odd-id-details")
    subjects = {(kind, local_fingerprint(f"cdp|{kind}|{value}")) for kind, value in expected}
    assert {(item["subjectKind"], item["fingerprint"]) for item in written} == subjects


def test_a_cdp_onboarding_cdp_refuses_is_recorded_under_the_ids_its_body_names(gateway, aws, physical_ids):
    from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_FN, ONBOARDING_BODY, TOKEN, token_reply
    from tests.integration.routes.test_cdp_onboarding import MISSING_FIRST_NAME

    # Given CDP refusing an onboarding (its 40002: no customer, no ECRN in its answer)
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, MISSING_FIRST_NAME)

    answer = call_as(ONBOARD_FN, ONBOARDING_BODY, caller=CALLER, correlation_id="audit-refused-onboarding")

    # Then the refusal is recorded under each id the body names (a compliance search by one finds the attempt)
    assert answer["statusCode"] == 422, answer["body"]
    written = records_of(aws, physical_ids, "audit-refused-onboarding")
    expected = {("id", local_fingerprint(f"cdp|id|{form}")) for form in ("4:784199554586091", "2:P4006315")}
    assert {(item["subjectKind"], item["fingerprint"]) for item in written} == expected


def test_an_upload_only_request_is_recorded_under_the_document_the_caller_named(gateway, aws, physical_ids):
    from tests.integration.routes.test_connectfi import LOGIN, login_reply
    from tests.integration.routes.test_connectfi_stepup import DOCUMENT, DOCUMENT_REQUEST, UPLOAD, uploaded

    # Given a document generated before, whose image the caller now uploads only
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPLOAD, uploaded())

    answer = call_as(
        "ConnectFiDocumentsFunction", {**DOCUMENT_REQUEST, "documentId": DOCUMENT}, caller=CALLER, correlation_id="up"
    )

    # Then its record is kept under that document
    assert answer["statusCode"] == 200, answer["body"]
    (item,) = records_of(aws, physical_ids, "up")
    assert (item["subjectKind"], item["fingerprint"]) == (
        "document",
        local_fingerprint(f"connectfi|document|{DOCUMENT}"),
    )


def test_an_update_is_recorded_under_each_document_it_names_in_any_form(gateway, aws, physical_ids, logs):
    from tests.integration.routes.test_connectfi import LOGIN, application, login_reply
    from tests.integration.routes.test_connectfi_stepup import UPDATE, UPDATE_FN, UPDATE_REQUEST

    # Given an update naming documents in each form connectFi's answers allow: an object with a text id, one with a
    # number, an id alone, and an object without an id (connectFi's to rule on, naming no document)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(UPDATE, application("pending_step_up"))
    documents = [{"documentId": "doc_front", "side": "front"}, {"documentId": 1000}, "doc_plain", {"side": "back"}]

    answer = call_as(
        UPDATE_FN, {**UPDATE_REQUEST, "documents": documents}, caller=CALLER, correlation_id="update-any-form"
    )

    # Then its record is kept under the customer, the application and each document named, a number as its text
    assert answer["statusCode"] == 200, answer["body"]
    written = records_of(aws, physical_ids, "update-any-form")
    named = {("customer", UPDATE_REQUEST["customerId"]), ("application", UPDATE_REQUEST["applicationId"])}
    named |= {("document", document_id) for document_id in ("doc_front", "1000", "doc_plain")}
    expected = {(kind, local_fingerprint(f"connectfi|{kind}|{value}")) for kind, value in named}
    assert {(item["subjectKind"], item["fingerprint"]) for item in written} == expected
    assert emf.log_lines(logs(), "audit subjects unreadable") == []


def test_a_document_connectfi_never_generated_is_recorded_without_a_subject_and_without_an_error(
    gateway, aws, physical_ids, logs
):
    from tests.integration.routes.test_connectfi import LOGIN, connectfi_error, login_reply
    from tests.integration.routes.test_connectfi_stepup import DOCUMENT_REQUEST, GENERATE

    # Given connectFi refusing to generate the document (so no document id exists to record it under)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, connectfi_error(400, "requestValidateError", "validation", []))

    answer = call_as("ConnectFiDocumentsFunction", DOCUMENT_REQUEST, caller=CALLER, correlation_id="no-document")

    # Then the refusal is recorded without a subject, and nothing was unreadable about it
    assert answer["statusCode"] == 422, answer["body"]
    (item,) = records_of(aws, physical_ids, "no-document")
    assert (item["subjectKind"], item["code"]) == ("none", "provider_validation_failed")
    assert emf.log_lines(logs(), "audit subjects unreadable") == []


def test_subjects_that_cannot_be_read_never_change_the_answer_and_the_record_is_still_kept(
    gateway, aws, physical_ids, monkeypatch, logs
):
    from kyc_gateway.providers.cladfy import KraPinRequest
    from tests.integration.routes.test_cladfy_krapin import FUNCTION, KRAPIN, PIN, SUCCESS

    # Given a route whose request cannot name its subjects (a bug in its audit_subjects)
    def broken(self, answer):
        raise RuntimeError("no subjects")

    monkeypatch.setattr(KraPinRequest, "audit_subjects", broken)
    gateway.provider.reply(KRAPIN, SUCCESS)

    answer = call_as(FUNCTION, {"pinnumber": PIN}, caller=CALLER, correlation_id="audit-unreadable")

    # Then the caller gets Cladfy's answer, the error is logged by route, and the record is kept without subjects
    assert answer["statusCode"] == 200
    (line,) = emf.log_lines(logs(), "audit subjects unreadable")
    assert (line["level"], line["route"], line["error"]) == ("ERROR", "cladfy.krapin", "RuntimeError")
    (record,) = records_of(aws, physical_ids, "audit-unreadable")
    assert (record["subjectKind"], record["route"], record["status"]) == ("none", "cladfy.krapin", 200)
