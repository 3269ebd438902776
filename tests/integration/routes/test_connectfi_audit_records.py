"""The audit records of connectFi's webhook confirmations (caller `webhook`) and reconciliation checks (caller
`schedule`): one record per subject, with the status call's codes on both sides, and each check with its own provider
calls only."""

from __future__ import annotations

import json

from local.functions import cold_start, invoke
from project import template as cfn
from tests.integration.test_audit_records import APPLICATION, CUSTOMER
from tests.support.audit import local_fingerprint, records, records_of


def test_a_webhook_confirmation_is_recorded_with_the_webhook_as_its_caller(sandboxed_gateway, aws, physical_ids):
    # Given a connectFi webhook about the sandbox's seeded application, as the queue hands it to the processor
    signal = {"code": "0", "data": {"applicationId": APPLICATION, "customerId": CUSTOMER, "status": "completed"}}
    batch = {"Records": [{"messageId": "message-1", "body": json.dumps(signal), "attributes": {}}]}

    assert invoke(cfn.functions()["ConnectFiWebhookProcessorFunction"], batch) == {"batchItemFailures": []}

    # Then its confirmation with /akepa/status is one record per subject, caller `webhook`
    written = records_of(aws, physical_ids, "message-1")
    assert {(item["subjectKind"], item["fingerprint"]) for item in written} == {
        ("customer", local_fingerprint(f"connectfi|customer|{CUSTOMER}")),
        ("application", local_fingerprint(f"connectfi|application|{APPLICATION}")),
    }
    assert {(item["caller"], item["route"], item["operation"], item["status"], item["code"]) for item in written} == {
        ("webhook", "connectfi.webhook_processor", "status", 200, "ok")
    }
    # with connectFi's request id of the status answer it confirmed with (the sandbox gives every answer one)
    assert all(isinstance(item["providerRequestId"], str) and item["providerRequestId"] for item in written)


def confirm(message_id: str) -> dict:
    """The webhook processor confirming a connectFi webhook about the seeded application, as the queue hands it."""
    signal = {"code": "0", "data": {"applicationId": APPLICATION, "customerId": CUSTOMER, "status": "completed"}}
    batch = {"Records": [{"messageId": message_id, "body": json.dumps(signal), "attributes": {}}]}
    return invoke(cfn.functions()["ConnectFiWebhookProcessorFunction"], batch)


def test_a_confirmation_connectfi_refuses_is_recorded_with_its_status_and_both_sides_codes(gateway, aws, physical_ids):
    from tests.integration.routes.test_connectfi import LOGIN, STATUS, connectfi_error, login_reply

    # Given connectFi answering the status check with its documented applicationNotFound (request id req-7)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, connectfi_error(404, "applicationNotFound"))

    assert confirm("message-refused") == {"batchItemFailures": [{"itemIdentifier": "message-refused"}]}

    # Then each subject's record says what the gateway made of it and what connectFi answered
    written = records_of(aws, physical_ids, "message-refused")
    assert {item["subjectKind"] for item in written} == {"customer", "application"}
    assert {
        (item["status"], item["code"], item["providerStatus"], item["providerCode"], item["providerRequestId"])
        for item in written
    } == {(404, "application_not_found", 404, "applicationNotFound", "req-7")}


def test_a_confirmation_that_breaks_in_the_gateway_is_recorded_as_a_500_named_by_its_error(
    gateway, aws, physical_ids, monkeypatch
):
    from kyc_gateway.providers.connectfi import client

    # Given a check that fails in the gateway itself (a bug, not connectFi)
    def broken(request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client, "status", broken)

    assert confirm("message-broken") == {"batchItemFailures": [{"itemIdentifier": "message-broken"}]}

    # Then the record is kept, as the gateway's 500, its code the error's type, and nothing of a provider's answer
    written = records_of(aws, physical_ids, "message-broken")
    assert {(item["status"], item["code"]) for item in written} == {(500, "RuntimeError")}
    assert all("providerCode" not in item and "providerStatus" not in item for item in written)


def test_each_reconciliation_check_is_recorded_with_the_schedule_as_its_caller(
    sandboxed_gateway, aws, physical_ids, monkeypatch
):
    # Given an application started and due at once for a check
    started = sandboxed_gateway.call("ConnectFiIdentificationFunction", {"customerId": CUSTOMER, "reference": "r1"})
    application_id = started.json()["data"]["applicationId"]
    monkeypatch.setenv("RECONCILE_AFTER_SECONDS", "0")
    cold_start()

    # When the scheduled run checks it
    invoke(cfn.functions()["ConnectFiReconcilerFunction"], {})

    # Then the check is recorded under the application, caller `schedule`
    fingerprint = local_fingerprint(f"connectfi|application|{application_id}")
    checks = [item for item in records(aws, physical_ids) if item["caller"] == "schedule"]
    assert {item["fingerprint"] for item in checks} >= {fingerprint}
    assert {(item["route"], item["operation"], item["code"]) for item in checks} == {
        ("connectfi.reconciler", "status", "ok")
    }
    assert all(isinstance(item["providerRequestId"], str) and item["providerRequestId"] for item in checks)


def test_each_reconciliation_check_records_its_own_provider_calls_only(
    sandboxed_gateway, aws, physical_ids, monkeypatch
):
    # Given two applications started and due at once for a check
    for reference in ("r1", "r2"):
        sandboxed_gateway.call("ConnectFiIdentificationFunction", {"customerId": CUSTOMER, "reference": reference})
    monkeypatch.setenv("RECONCILE_AFTER_SECONDS", "0")
    cold_start()

    # When one scheduled run checks both
    invoke(cfn.functions()["ConnectFiReconcilerFunction"], {})

    # Then each check's record holds its own /akepa/status call, not those of the checks before it in the run
    checks = {item["correlationId"]: item for item in records(aws, physical_ids) if item["caller"] == "schedule"}
    assert len(checks) == 2
    for check in checks.values():
        assert [call for call in check["providerCalls"] if call["operation"] == "status"] == [
            {"operation": "status", "status": 200}
        ], check["correlationId"]
