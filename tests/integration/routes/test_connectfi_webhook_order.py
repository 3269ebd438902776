"""connectFi states arriving out of order: the state asked for last wins (a slow answer never undoes a newer one), a
callback is deduplicated as one delivery (the same status reached again is another callback), a webhook connectFi's
status does not confirm is processed again when it comes again, and a status answer without a status is connectFi
failing."""

from __future__ import annotations

import json
import threading

import pytest

from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import (
    APPLICATION,
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    STATUS,
    application,
    login_reply,
)
from tests.integration.routes.test_connectfi_stepup import UPDATE, UPDATE_FN, UPDATE_REQUEST
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.waiting import wait_for
from tests.support.webhooks import PROCESSOR, deliver, process_queue, queued, read_application, webhook


def stored_status(application_id: str = APPLICATION) -> str | None:
    answer = read_application(application_id)
    return json.loads(answer["body"])["status"] if answer["statusCode"] == 200 else None


def announced(announcements) -> list[tuple[str | None, str]]:
    return [(event["detail"]["previousStatus"], event["detail"]["status"]) for event in announcements()]


def callback(status: str, request_id: str, outcome: str | None = None) -> dict:
    """A webhook as connectFi sends it: the status envelope, with the request id of that callback."""
    return webhook(status, outcome) | {"requestId": request_id}


def answer_held(gateway, path: str, answer: dict) -> threading.Event:
    """connectFi's `answer` at `path` held until the event is set."""
    gateway.provider.reply(path, Reply(200, json.dumps(answer).encode(), delay=1))
    released = threading.Event()
    gateway.provider.wait = lambda seconds: released.wait(10)
    return released


def started_with_an_answer_held(gateway, path: str, answer: dict) -> threading.Event:
    """An application started (pending_step_up), and connectFi's `answer` at `path` held until the event is set."""
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application("pending_step_up"))
    assert gateway.call(IDENTIFY_FN, IDENTIFICATION).status == 200
    return answer_held(gateway, path, answer)


def a_status_check_answered_first(
    gateway, queues, released: threading.Event, write: tuple, status: str, after_it: str | None = None
) -> None:
    """The `write` (connectFi's path, the function, its body) called, connectFi's answer to it held until `released`;
    meanwhile a webhook processed, whose status check connectFi answers with `status`; then the write answered (and
    a status check from then on answered with `after_it`, connectFi's state once the write is done)."""
    sqs, url, _ = queues
    path, function, body = write
    gateway.provider.reply(STATUS, application(status))
    writing = threading.Thread(target=lambda: gateway.call(function, body))
    writing.start()
    wait_for(lambda: gateway.provider.requests(path), 10, every=0.01, what=f"the call to {path}")
    deliver(gateway, callback(status, "cb-1"))
    process_queue(gateway, sqs, url)
    if after_it:
        gateway.provider.reply(STATUS, application(after_it))
    released.set()
    writing.join(timeout=30)


# --- the newest state asked for wins ---------------------------------------------------------------------------------


def test_a_status_answer_asked_for_before_an_update_but_answered_after_it_never_undoes_the_update(
    gateway, queues, announcements
):
    # Given an application started (pending_step_up), and a webhook whose status check connectFi answers slowly:
    # the answer (data_request) was true when asked for, and is held until the caller's update (waiting_review) is done
    sqs, url, _ = queues
    updated = started_with_an_answer_held(gateway, STATUS, application("data_request"))
    gateway.provider.reply(UPDATE, application("waiting_review"))
    deliver(gateway, callback("data_request", "cb-1"))
    processing = threading.Thread(target=process_queue, args=(gateway, sqs, url))
    processing.start()

    # When the update is made while the status answer is on its way
    wait_for(lambda: gateway.provider.requests(STATUS), 10, every=0.01, what="the status check")
    assert gateway.call(UPDATE_FN, UPDATE_REQUEST).status == 200
    updated.set()
    processing.join(timeout=30)

    # Then the update's state stays stored and announced; the older answer changed nothing
    assert stored_status() == "waiting_review"
    assert announced(announcements) == [(None, "pending_step_up"), ("pending_step_up", "waiting_review")]
    assert queued(sqs, url) == []


def test_a_status_check_sent_while_an_update_was_on_its_way_and_answered_sooner_never_undoes_the_update(
    gateway, queues, announcements, aws, physical_ids
):
    # Given an application started (pending_step_up), and a caller's update whose answer (waiting_review) is held
    checked = started_with_an_answer_held(gateway, UPDATE, application("waiting_review"))

    # When a webhook's status check, sent after the update, is answered with the state before it, before the update is
    write = (UPDATE, UPDATE_FN, UPDATE_REQUEST)
    a_status_check_answered_first(gateway, queues, checked, write, "pending_step_up", after_it="waiting_review")

    # Then which came last cannot be told from the times: connectFi's status, asked for once the update is answered,
    # is stored and announced, the update's state
    assert len(gateway.provider.requests(STATUS)) == 2
    assert stored_status() == "waiting_review"
    assert announced(announcements)[-1] == ("pending_step_up", "waiting_review")
    # and the update's audit record holds that check among its provider calls
    from tests.support.audit import records

    updates = [item for item in records(aws, physical_ids) if item["route"] == "connectfi.update"]
    assert updates and {tuple(call["operation"] for call in item["providerCalls"]) for item in updates} == {
        ("update", "status")
    }


def test_a_status_check_answered_before_the_identification_that_started_the_application_is_not_undone_by_it(
    gateway, queues, announcements
):
    # Given an identification whose answer (pending_step_up, the application's first state) is held
    gateway.provider.reply(LOGIN, login_reply())
    checked = answer_held(gateway, IDENTIFY, application("pending_step_up"))

    # When a webhook's status check, sent after the identification, is answered with a newer state before it is
    a_status_check_answered_first(gateway, queues, checked, (IDENTIFY, IDENTIFY_FN, IDENTIFICATION), "waiting_review")

    # Then the newer state stays stored: the state an identification answers is older than any check of it
    assert stored_status() == "waiting_review"
    assert announced(announcements) == [(None, "waiting_review")]


def test_a_state_asked_for_before_the_stored_one_is_ignored_even_when_it_is_the_same(gateway, announcements, clock):
    from kyc_gateway.providers.connectfi import applications

    # Given a state asked for at second 2
    now = clock.stop()
    state = application("waiting_review")["data"]
    assert applications.record_and_announce(state, observed_at=now + 2)["announced"] is True

    # When older answers arrive (asked for at second 1): another status, then the same one
    older = applications.record_and_announce(application("data_request")["data"], observed_at=now + 1)
    same_older = applications.record_and_announce(state, observed_at=now + 1)

    # Then they changed nothing, not even when the stored state was asked for
    assert (older, same_older) == (None, None)
    assert applications.get(APPLICATION)["observedAt"] == applications.timestamp(now + 2)

    # And a newer answer (asked for at second 3) is stored and announced
    assert applications.record_and_announce(application("data_request")["data"], observed_at=now + 3)["announced"]
    assert announced(announcements) == [(None, "waiting_review"), ("waiting_review", "data_request")]


@pytest.mark.parametrize(
    "meanwhile",
    [application("data_request")["data"], application("waiting_review", "Approved")["data"]],
    ids=["another status", "an outcome where there was none"],
)
def test_a_state_found_as_stored_while_another_is_written_is_compared_with_that_one_again(gateway, clock, meanwhile):
    from kyc_gateway import aws
    from kyc_gateway.providers.connectfi import applications

    # Given waiting_review stored (asked for at second 1), and the same state asked for at second 3 arriving, just as
    # another state (asked for at second 2) is written between finding waiting_review as stored and noting the check
    now = clock.stop()
    review, request = application("waiting_review")["data"], meanwhile
    applications.record_and_announce(review, observed_at=now + 1)
    updates, written = [], []

    def data_request_written_meanwhile(**_: object) -> None:
        updates.append(1)
        if len(updates) == 2 and not written:  # the second: the note of a check that found the state as stored
            written.append(applications.record_and_announce(request, observed_at=now + 2))

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.UpdateItem", data_request_written_meanwhile)
    try:
        # When the newest answer is recorded
        stored = applications.record_and_announce(review, observed_at=now + 3)
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", data_request_written_meanwhile)

    # Then it is stored over the other (the newest state asked for), not noted as found
    assert (written[0]["status"], written[0]["outcome"]) == (meanwhile["status"], meanwhile["outcome"])
    assert (stored["status"], stored["outcome"]) == ("waiting_review", None)
    assert applications.get(APPLICATION)["observedAt"] == applications.timestamp(now + 3)


# --- one callback, one delivery ------------------------------------------------------------------------------------


def test_a_status_reached_again_later_is_another_callback_and_is_processed(gateway, queues, announcements):
    # Given an application moved to data_request (a callback), back to waiting_review (an update), then to
    # data_request again, and connectFi calling back each asynchronous change
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("data_request"), application("data_request"))
    gateway.provider.reply(UPDATE, application("waiting_review"))
    deliver(gateway, callback("data_request", "cb-1"))
    process_queue(gateway, sqs, url)
    assert gateway.call(UPDATE_FN, UPDATE_REQUEST).status == 200

    # When the second callback comes: the same claim, another callback
    deliver(gateway, callback("data_request", "cb-2"))
    process_queue(gateway, sqs, url)

    # Then it is confirmed and stored like the first
    assert len(gateway.provider.requests(STATUS)) == 2
    assert stored_status() == "data_request"
    assert announced(announcements)[-1] == ("waiting_review", "data_request")


def test_a_webhook_connectfis_status_does_not_confirm_yet_is_processed_again_when_it_comes_again(
    gateway, queues, announcements, logs
):
    # Given a callback claiming completed before connectFi's status says so, then connectFi sending it again
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("waiting_review"), application("completed", "Approved"))
    deliver(gateway, callback("completed", "cb-1", "Approved"))
    process_queue(gateway, sqs, url)
    assert stored_status() == "waiting_review"
    unconfirmed = "webhook status not confirmed by connectFi's status: left to the reconciliation"
    (line,) = log_lines(logs(), unconfirmed)  # said once, for the unconfirmed delivery only
    assert (line["level"], line["application_id"]) == ("INFO", APPLICATION)

    # When the same callback comes again
    deliver(gateway, callback("completed", "cb-1", "Approved"))
    process_queue(gateway, sqs, url)

    # Then it was checked again, and the completion stored and announced; a third copy is a duplicate
    deliver(gateway, callback("completed", "cb-1", "Approved"))
    process_queue(gateway, sqs, url)
    assert len(gateway.provider.requests(STATUS)) == 2
    assert stored_status() == "completed"
    assert announced(announcements) == [(None, "waiting_review"), ("waiting_review", "completed")]
    assert len(log_lines(logs(), unconfirmed)) == 1


# --- a status answer without a status ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, "", 7, "missing"], ids=["null", "empty", "a number", "missing"])
def test_a_status_answer_without_a_status_is_connectfi_failing_and_stores_nothing(gateway, logs, status):
    # Given connectFi answering a webhook's status check with its envelope, but no status in it
    answer = application("completed")
    if status == "missing":
        del answer["data"]["status"]
    else:
        answer["data"]["status"] = status
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, answer)

    # When the webhook is processed
    record = {"messageId": "m1", "body": json.dumps(callback("completed", "cb-1", "Approved"))}
    result = invoke(cfn.functions()[PROCESSOR], {"Records": [record]})

    # Then the record goes back for a retry, as for connectFi failing, and nothing is stored
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert '"code":"provider_bad_response"' in logs()
    assert read_application(APPLICATION)["statusCode"] == 404
