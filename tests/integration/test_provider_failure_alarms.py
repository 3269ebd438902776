"""The provider failure alarms as deployed (ProviderFailures per provider), against what each answer counts: a
provider failing counts; the provider refusing a caller's request as it documents, or a stored failure given again
under its Idempotency-Key (nothing asked of the provider), does not."""

from __future__ import annotations

from kyc_gateway import observability  # noqa: F401 - as_deployed patches it
from tests.integration import test_metric_alarm_drills as drills
from tests.integration.routes.error_rows import answer
from tests.integration.routes.error_rows.cladfy import cladfy_error
from tests.integration.routes.test_cladfy_krapin import FUNCTION as CLADFY_FN
from tests.integration.routes.test_cladfy_krapin import KRAPIN, PIN
from tests.integration.routes.test_connectfi import LOGIN, connectfi_error, login_reply
from tests.integration.routes.test_connectfi_stepup import DOCUMENT_REQUEST, DOCUMENTS_FN, GENERATE, UPLOAD, generated
from tests.integration.test_rollback_drill import breaches, watched
from tests.support import emf

deployed = drills.deployed
as_deployed = drills.as_deployed


def _sum_on_series(alarm: dict, written: str) -> list[float]:
    """The datapoints written on exactly the series `alarm` watches."""
    namespace, name, dimensions = watched(alarm)
    return [
        value
        for metric in emf.metrics(written)
        if metric.name == name and metric.namespace == namespace and dict(metric.dimension_values) == dimensions
        for value in metric.values
    ]


def test_callers_pins_that_cladfy_refuses_as_documented_do_not_page_cladfy_failing(
    deployed, gateway, as_deployed, stopped_clock, logs
):
    # Given Cladfy answering its documented validation failure (code 1003), which the gateway maps to a
    # 422 provider_rejected: the provider working, the caller's input refused
    alarm = deployed["Resources"]["CladfyProviderFailuresAlarm"]["Properties"]
    as_deployed(CLADFY_FN)
    gateway.provider.reply(KRAPIN, answer(200, cladfy_error(400, "Validation failure", 1003)))
    logs()

    # When callers send 5 such PINs in 5 minutes (the alarm's threshold)
    for _ in range(int(alarm["Threshold"])):
        gateway.new_instance()
        refused = gateway.call(CLADFY_FN, {"pinnumber": PIN})
        assert (refused.status, refused.error["code"]) == (422, "provider_rejected")

    # Then the alarm that says "Requests failed at Cladfy" (the runbook's: Cladfy down, slow, undocumented answers)
    # is not put in ALARM by Cladfy doing its documented job
    values = _sum_on_series(alarm, logs())
    assert not breaches(alarm, [values]), f"CladfyProviderFailures in ALARM on 422 refusals: {values}"


def test_a_stored_failure_replayed_under_its_key_is_not_counted_again_as_connectfi_failing(
    deployed, gateway, as_deployed, stopped_clock, logs
):
    # Given a document generated, then its upload failing (stored under the Idempotency-Key: write_done)
    alarm = deployed["Resources"]["ConnectFiProviderFailuresAlarm"]["Properties"]
    as_deployed(DOCUMENTS_FN)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(GENERATE, generated())
    gateway.provider.reply(UPLOAD, connectfi_error(503, "unavailable"))
    key = [("Idempotency-Key", "documents-1")]
    first = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)
    assert first.status == 502
    calls_to_connectfi = len(gateway.provider.requests())
    before = len(logs())  # the first request's own count (connectFi did fail it) is not what is asked here

    # When the caller's client retries its 502 under the same key (the stored answer is replayed, connectFi is
    # not called) as often as the alarm's threshold
    for _ in range(int(alarm["Threshold"])):
        again = gateway.call(DOCUMENTS_FN, DOCUMENT_REQUEST, headers=key)
        assert again.status == 502 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(gateway.provider.requests()) == calls_to_connectfi  # connectFi was not asked again

    # Then connectFi's failure alarm does not count replays of one old failure as connectFi failing now
    values = _sum_on_series(alarm, logs()[before:])
    assert sum(values) == 0, f"ProviderFailures counted {sum(values)} times for answers connectFi never gave"


def test_requests_connectfi_refuses_as_invalid_do_not_page_connectfi_failing(
    deployed, gateway, as_deployed, stopped_clock, logs
):
    # Given connectFi answering its documented requestValidateError, a 422 provider_validation_failed
    from tests.integration.routes.test_connectfi import APPLICATION, CUSTOMER, STATUS, STATUS_FN

    alarm = deployed["Resources"]["ConnectFiProviderFailuresAlarm"]["Properties"]
    as_deployed(STATUS_FN)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, connectfi_error(400, "requestValidateError", "validation", []))
    logs()

    # When callers send 5 requests connectFi refuses so, in 5 minutes
    for _ in range(int(alarm["Threshold"])):
        refused = gateway.call(STATUS_FN, {"customerId": CUSTOMER, "applicationId": APPLICATION})
        assert (refused.status, refused.error["code"]) == (422, "provider_validation_failed")

    # Then "Requests failed at connectFi" is not put in ALARM
    values = _sum_on_series(alarm, logs())
    assert not breaches(alarm, [values]), f"ConnectFiProviderFailures in ALARM on 422 refusals: {values}"
