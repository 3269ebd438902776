"""connectFi reconciliation: applications that are not final are re-checked some time after their last change,
and every change is stored and announced once, whether the webhook or the reconciliation saw it first."""

from __future__ import annotations

import json
import threading
import time

import pytest

from kyc_gateway.errors import GatewayError
from local import template as cfn
from local.functions import invoke
from tests.integration.routes.test_connectfi import (
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    STATUS,
    STATUS_FN,
    application,
    login_reply,
)
from tests.support.fake_provider import Reply
from tests.support.webhooks import deliver, process_queue, read_application, webhook

RECONCILER = "ConnectFiReconcilerFunction"
AFTER = 600  # RECONCILE_AFTER_SECONDS, the template's default


def reconcile() -> dict:
    return invoke(cfn.functions()[RECONCILER], {})


def statuses(announcements) -> list[str]:
    return [event["detail"]["status"] for event in announcements()]


def test_an_identification_records_and_announces_the_application_it_starts(gateway, announcements):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("waiting_review"))

    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    stored = json.loads(read_application(answer.json()["data"]["applicationId"])["body"])
    assert stored["status"] == "waiting_review"
    (event,) = announcements()
    assert (event["detail"]["previousStatus"], event["detail"]["status"]) == (None, "waiting_review")


def test_an_application_whose_webhook_is_lost_still_reaches_its_final_state(sandboxed_gateway, announcements, clock):
    # Given an application under review whose completion webhook connectFi never delivers
    body = {"customerId": "cstap_lostWebhook1", "reference": "ASYNCLOST1"}
    started = sandboxed_gateway.call(IDENTIFY_FN, body).json()["data"]
    status_body = {"customerId": body["customerId"], "applicationId": started["applicationId"]}
    deadline = time.monotonic() + 10
    while sandboxed_gateway.call(STATUS_FN, status_body).json()["data"]["status"] != "completed":
        assert time.monotonic() < deadline, "the sandbox never completed the review"
        time.sleep(0.05)

    # When the reconciliation runs before the threshold, then after it
    early = reconcile()
    clock.advance(AFTER + 1)
    late = reconcile()

    # Then it is found, confirmed, stored and announced, once
    assert early == {"checked": 0, "changed": 0, "failed": 0}
    assert late == {"checked": 1, "changed": 1, "failed": 0}
    stored = json.loads(read_application(started["applicationId"])["body"])
    assert (stored["status"], stored["outcome"]) == ("completed", "Approved")
    assert statuses(announcements) == ["waiting_review", "completed"]
    clock.advance(AFTER + 1)
    assert reconcile()["checked"] == 0  # final: no longer re-checked


def test_the_webhook_and_the_reconciliation_racing_store_and_announce_each_change_once(
    gateway, queues, announcements, clock, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications

    # Given an application under review, then completed at connectFi, and the worst interleaving: the webhook's
    # and the reconciliation's writes both land before either announces
    both_stored = threading.Barrier(2, timeout=10)
    store = applications._record

    def store_then_wait(state):
        stored = store(state)
        if state.get("status") == "completed":
            both_stored.wait()
        return stored

    monkeypatch.setattr(applications, "_record", store_then_wait)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("waiting_review"))
    gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    clock.advance(AFTER + 1)
    sqs, url, _ = queues
    deliver(gateway, webhook())

    # When both paths run at once
    barrier, results = threading.Barrier(2), {}

    def run(name, work):
        barrier.wait()
        results[name] = work()

    threads = [
        threading.Thread(target=run, args=("reconcile", reconcile)),
        threading.Thread(target=run, args=("webhook", lambda: process_queue(gateway, sqs, url))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then the change was stored and announced once, whoever won
    assert results["reconcile"]["checked"] == 1
    assert len(gateway.provider.requests(STATUS)) == 2  # both looked
    assert statuses(announcements) == ["waiting_review", "completed"]


def test_an_announcement_that_fails_is_released_for_the_retry(gateway, queues, announcements, monkeypatch):
    from kyc_gateway import aws

    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    sqs, url, _ = queues
    events = aws.client("events")
    failing = {"left": 1}

    class Flaky:
        def put_events(self, **arguments):
            if failing["left"]:
                failing["left"] -= 1
                return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
            return events.put_events(**arguments)

    real_client = aws.client
    monkeypatch.setattr(aws, "client", lambda service: Flaky() if service == "events" else real_client(service))

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)  # the announcement fails: the record goes back to the queue
    assert statuses(announcements) == []
    process_queue(gateway, sqs, url)

    assert statuses(announcements) == ["completed"]


def test_connectfi_failing_on_every_application_fails_the_run(gateway, clock):
    gateway.provider.reply(LOGIN, login_reply())
    for number in range(3):
        state = application("waiting_review")
        state["data"]["applicationId"] = f"iapp_failing{number}"
        gateway.provider.reply(IDENTIFY, state)
        gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.provider.reply(STATUS, Reply(500, b'{"code": "internal"}'))
    clock.advance(AFTER + 1)

    with pytest.raises(GatewayError) as raised:
        reconcile()

    assert raised.value.code == "provider_error"
