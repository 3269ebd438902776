"""connectFi reconciliation: applications that are not final are re-checked some time after their last change,
and every change is stored and announced once, whether the webhook or the reconciliation saw it first."""

from __future__ import annotations

import json
import threading
import time

import pytest

from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import (
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    STATUS,
    STATUS_FN,
    application,
    connectfi_error,
    login_reply,
)
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.waiting import wait_for
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


def test_an_identification_that_cannot_record_its_application_still_answers_and_is_counted(gateway, monkeypatch, logs):
    from kyc_gateway.providers.connectfi import applications

    # Given an applications table the function cannot write (here: one that does not exist)
    monkeypatch.setattr(applications, "_table", lambda: "kyc-gateway-local-no-such-table")
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("waiting_review"))

    # When an identification starts an application
    answer = gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # Then the caller gets connectFi's answer (a retry would start a second application), and the miss is counted
    # with the application's id in the log, for the runbook
    assert answer.status == 200
    written = logs()
    assert '"ApplicationsNotRecorded":[1.0]' in written.replace(" ", "")
    assert answer.json()["data"]["applicationId"] in written


def test_an_application_whose_webhook_is_lost_still_reaches_its_final_state(sandboxed_gateway, announcements, clock):
    # Given an application under review whose completion webhook connectFi never delivers
    body = {"customerId": "cstap_lostWebhook1", "reference": "ASYNCLOST1"}
    started = sandboxed_gateway.call(IDENTIFY_FN, body).json()["data"]
    status_body = {"customerId": body["customerId"], "applicationId": started["applicationId"]}
    wait_for(
        lambda: sandboxed_gateway.call(STATUS_FN, status_body).json()["data"]["status"] == "completed",
        10,
        every=0.05,
        what="the sandbox completing the review",
    )

    # When the reconciliation runs before the threshold, then after it
    early = reconcile()
    clock.advance(AFTER + 1)
    late = reconcile()

    # Then it is found, confirmed, stored and announced, once
    assert early == {"checked": 0, "changed": 0, "failed": 0, "retired": 0}
    assert late == {"checked": 1, "changed": 1, "failed": 0, "retired": 0}
    stored = json.loads(read_application(started["applicationId"])["body"])
    assert (stored["status"], stored["outcome"]) == ("completed", "Approved")
    assert statuses(announcements) == ["waiting_review", "completed"]
    clock.advance(AFTER + 1)
    assert reconcile()["checked"] == 0  # final: no longer re-checked


def test_the_webhook_and_the_reconciliation_racing_store_and_announce_each_change_once(
    gateway, queues, announcements, clock, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications

    # Given an application under review, then completed at connectFi, and the worst interleaving: the reconciliation
    # reads the application as due before the webhook writes, and both writes land before either announces
    both_stored, listed = threading.Barrier(2, timeout=10), threading.Event()
    store, due = applications._record, applications.due

    def due_then_signal(checked_before):
        found = list(due(checked_before))
        listed.set()
        yield from found

    def store_then_wait(state, observed_at, **options):
        if state.get("status") == "completed":
            assert listed.wait(timeout=10), "the reconciliation never listed the due applications"
        stored = store(state, observed_at, **options)
        if state.get("status") == "completed":
            both_stored.wait()
        return stored

    monkeypatch.setattr(applications, "due", due_then_signal)
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
        try:
            results[name] = work()
        except Exception as error:  # noqa: BLE001 - a thread's failure is reported by the test, not swallowed
            results[name] = error

    threads = [
        threading.Thread(target=run, args=("reconcile", reconcile)),
        threading.Thread(target=run, args=("webhook", lambda: process_queue(gateway, sqs, url))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    # Then the change was stored and announced once, whoever won
    assert not [result for result in results.values() if isinstance(result, Exception)], results
    assert results["reconcile"]["checked"] == 1
    assert len(gateway.provider.requests(STATUS)) == 2  # both looked
    assert statuses(announcements) == ["waiting_review", "completed"]


def failing_announcements(monkeypatch, times: int) -> None:
    """EventBridge refuses the next `times` events."""
    from kyc_gateway import aws

    events, real_client, left = aws.client("events"), aws.client, {"count": times}

    class Flaky:
        def put_events(self, **arguments):
            if left["count"]:
                left["count"] -= 1
                return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
            return events.put_events(**arguments)

    monkeypatch.setattr(aws, "client", lambda service: Flaky() if service == "events" else real_client(service))


def state_of(application_id: str, status: str, outcome=None) -> dict:
    reply = application(status, outcome)
    reply["data"]["applicationId"] = application_id
    return reply


def test_an_announcement_that_fails_is_released_for_the_retry(gateway, queues, announcements, monkeypatch):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    sqs, url, _ = queues
    failing_announcements(monkeypatch, 1)

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)  # the announcement fails: the record goes back to the queue
    assert statuses(announcements) == []
    process_queue(gateway, sqs, url)

    assert statuses(announcements) == ["completed"]


def test_a_final_state_whose_announcement_fails_is_announced_by_a_later_run(gateway, announcements, clock, monkeypatch):
    from kyc_gateway.providers.connectfi import applications

    # Given an application under review that connectFi has since completed, and EventBridge refusing once
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("waiting_review"))
    gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    failing_announcements(monkeypatch, 1)
    clock.advance(AFTER + 1)

    # When the reconciliation stores the final state but cannot announce it, the run fails
    with pytest.raises(applications.AnnouncementFailed):
        reconcile()

    # Then the application stays due (no webhook will come), and the next due run announces it, once
    clock.advance(AFTER + 1)
    assert reconcile() == {"checked": 1, "changed": 1, "failed": 0, "retired": 0}
    clock.advance(AFTER + 1)
    assert reconcile()["checked"] == 0
    assert statuses(announcements) == ["waiting_review", "completed"]


class Crash(BaseException):
    """The invocation dies (a timeout, out of memory): no handler of the gateway runs."""


def test_an_announcement_claimed_by_an_invocation_that_died_is_announced_after_its_lease(
    gateway, queues, announcements, clock, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications

    # Given a webhook processor that dies after claiming the announcement of `completed`, before sending it
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    announce = applications._announce

    def die(stored, previous):
        raise Crash

    monkeypatch.setattr(applications, "_announce", die)
    with pytest.raises(Crash):
        applications.record_and_announce(application("completed", "Approved")["data"])
    monkeypatch.setattr(applications, "_announce", announce)

    # When another path sees the same state while the claim is live, it leaves the announcement to its claimer
    assert applications.record_and_announce(application("completed", "Approved")["data"])["announced"] is False
    # Then, the claim's lease over, the reconciliation announces it, once
    clock.advance(max(AFTER, applications.ANNOUNCE_LEASE_SECONDS) + 1)
    assert reconcile() == {"checked": 1, "changed": 1, "failed": 0, "retired": 0}
    clock.advance(AFTER + 1)
    assert reconcile()["checked"] == 0
    assert statuses(announcements) == ["completed"]


def test_a_newer_state_stored_while_an_older_one_is_announced_is_announced_next_by_the_claimer(
    gateway, announcements, monkeypatch
):
    from kyc_gateway.providers.connectfi import applications

    # Given an instance announcing `waiting_review` (EventBridge slow to answer), while another instance stores
    # `completed`: it finds the announcement claimed, and leaves it to the claimer
    announce, meanwhile = applications._announce, []

    def slow(stored, previous):
        if not meanwhile:
            meanwhile.append(applications.record_and_announce(application("completed", "Approved")["data"]))
        announce(stored, previous)

    monkeypatch.setattr(applications, "_announce", slow)

    # When the first instance's announcement is done
    first = applications.record_and_announce(application("waiting_review")["data"])

    # Then it announces the newer state too, in order, at once (not a reconciliation later), and the application,
    # its final status published, leaves the queue
    assert (first["announced"], meanwhile[0]["announced"]) == (True, False)
    details = [event["detail"] for event in announcements()]
    assert [(detail["previousStatus"], detail["status"], detail["outcome"]) for detail in details] == [
        (None, "waiting_review", None),
        ("waiting_review", "completed", "Approved"),
    ]
    stored = applications.get(first["applicationId"])
    assert (stored["publishedStatus"], stored.get("open")) == ("completed", None)


def test_a_newer_state_the_claimer_fails_to_announce_is_left_to_the_reconciliation_not_failed_on_its_own(
    gateway, announcements, monkeypatch, clock, logs
):
    from kyc_gateway.providers.connectfi import applications

    # Given an instance announcing `waiting_review` while another stores `completed`, and EventBridge refusing the
    # second announcement
    announce, calls = applications._announce, []

    def then_refused(stored, previous):
        calls.append(stored["status"])
        if len(calls) == 1:
            applications.record_and_announce(application("completed", "Approved")["data"])
            return announce(stored, previous)
        raise RuntimeError("EventBridge refused the event")

    monkeypatch.setattr(applications, "_announce", then_refused)

    # When the first instance's own announcement is done, and the next refused
    first = applications.record_and_announce(application("waiting_review")["data"])

    # Then its own state counts as announced (its caller does not fail over another's), a warning names the provider
    # and the application left to the reconciliation, the claim is released, and the reconciliation announces
    # `completed`
    assert (first["announced"], calls) == (True, ["waiting_review", "completed"])
    (line,) = log_lines(logs(), "application state not announced yet")
    assert (line["level"], line["provider"], line["application_id"]) == ("WARNING", "connectfi", first["applicationId"])
    monkeypatch.setattr(applications, "_announce", announce)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    clock.advance(AFTER + 1)
    assert reconcile()["changed"] == 1
    assert statuses(announcements) == ["waiting_review", "completed"]


def test_an_identification_whose_announcement_fails_is_not_counted_as_unrecorded(
    gateway, announcements, clock, monkeypatch, logs
):
    # Given EventBridge refusing the identification's announcement
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("waiting_review"))
    failing_announcements(monkeypatch, 1)

    # When the identification starts the application, Then the caller gets its answer and nothing is counted
    assert gateway.call(IDENTIFY_FN, IDENTIFICATION).status == 200
    assert "ApplicationsNotRecorded" not in logs()

    # And the reconciliation announces it
    gateway.provider.reply(STATUS, application("waiting_review"))
    clock.advance(AFTER + 1)
    assert reconcile()["changed"] == 1
    assert statuses(announcements) == ["waiting_review"]


def test_applications_connectfi_fails_on_go_to_the_back_and_unknown_ones_leave(gateway, announcements, clock):
    # Given three applications connectFi fails on, then one it knows, then one it does not, oldest first
    gateway.provider.reply(LOGIN, login_reply())
    ids = [f"iapp_queue{number}" for number in range(5)]
    for application_id in ids:
        gateway.provider.reply(IDENTIFY, state_of(application_id, "waiting_review"))
        gateway.call(IDENTIFY_FN, IDENTIFICATION)
        time.sleep(0.002)  # distinct check times
    failure = Reply(500, b'{"code": "internal"}')
    clock.advance(AFTER + 1)

    # When a run meets the three failures first, it stops, recorded failed (connectFi failing on all it tried)
    gateway.provider.reply(STATUS, failure)  # every attempt (a read is retried)
    assert reconcile() == {"error": "provider_error"}

    # Then the next run starts with the others: the known one is reconciled, the unknown one goes to the back
    unknown = connectfi_error(404, "applicationNotFound", "Application not found")
    gateway.provider.reply(STATUS, state_of(ids[3], "completed", "Approved"), unknown)
    assert reconcile() == {"checked": 2, "changed": 1, "failed": 1, "retired": 0}
    checked = [json.loads(request.body)["applicationId"] for request in gateway.provider.requests(STATUS)]
    assert list(dict.fromkeys(checked)) == ids
    # And later runs check the postponed three again, then the unknown one, which leaves at its third unknown
    for run in range(2):
        known = (state_of(application_id, "waiting_review") for application_id in ids[:3])
        gateway.provider.reply(STATUS, *known, unknown)
        clock.advance(AFTER + 1)
        assert reconcile() == {"checked": 4, "changed": 0, "failed": 1, "retired": 0}, run
    gateway.provider.reply(STATUS, *(state_of(application_id, "waiting_review") for application_id in ids[:3]))
    clock.advance(AFTER + 1)
    assert reconcile() == {"checked": 3, "changed": 0, "failed": 0, "retired": 0}
    assert "completed" in statuses(announcements)


def test_connectfi_failing_on_every_application_records_the_run_failed_without_failing_the_invocation(
    gateway, clock, logs
):
    gateway.provider.reply(LOGIN, login_reply())
    for number in range(3):
        state = application("waiting_review")
        state["data"]["applicationId"] = f"iapp_failing{number}"
        gateway.provider.reply(IDENTIFY, state)
        gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.provider.reply(STATUS, Reply(500, b'{"code": "internal"}'))
    clock.advance(AFTER + 1)

    # When a run meets connectFi failing on all it tries
    answer = reconcile()

    # Then the run is recorded failed as connectFi's failure (its alarm), and the invocation does not fail: a
    # connectFi outage during a deploy must not roll the reconciler back
    assert answer == {"error": "provider_error"}
    written = logs()
    (line,) = [json.loads(line) for line in written.splitlines() if '"request completed"' in line][-1:]
    assert (line["route"], line["code"]) == ("connectfi.reconciler", "provider_error")
    assert '"ProviderFailures"' in written and '"GatewayFaults"' not in written
