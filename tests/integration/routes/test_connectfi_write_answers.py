"""What a connectFi write's answer stores (kyc_gateway/providers/connectfi/write_answers.py): the state an
identification or an update answered, dated from when it held, or, when an update met another state on its way,
connectFi's status asked for instead; and the stored state read back strongly consistent. The store itself is in
test_connectfi_applications.py."""

from __future__ import annotations

import json

import pytest

from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.providers.connectfi import write_answers
from tests.integration.routes.test_connectfi import (
    APPLICATION,
    LOGIN,
    STATUS,
    application,
    connectfi_error,
    login_reply,
)
from tests.integration.routes.test_connectfi_applications import EACH_FIELD_CHANGED, details, state
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.webhooks import read_application


def test_the_stored_state_is_read_strongly_consistent(store):
    from kyc_gateway import aws

    # Given a state just stored (a webhook's processor), and the reads the table is asked for
    store.record_and_announce(state())
    reads = []
    aws.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params)
    )

    assert read_application(APPLICATION)["statusCode"] == 200

    (read,) = reads
    assert read["ConsistentRead"] is True


def test_a_recorded_write_answers_connectfis_answer_and_stores_the_application_it_holds(store):
    # Given a connectFi write answering with an application (an identification started), 7.5 s after its sending
    sent_at, received_at = 1_700_000_000.0, 1_700_000_007.5
    body = json.dumps(application("pending_step_up"))
    answer = ProviderResponse("connectfi", 200, body, {}, sent_at=sent_at, received_at=received_at)
    sent = []

    def write(request):
        sent.append(request)
        return answer

    # When it runs recorded
    assert write_answers.recorded(write)("the request") is answer

    # Then the write got the request once, and the application it answered is stored (reconciliation follows it)
    assert sent == ["the request"]
    stored = json.loads(read_application(APPLICATION)["body"])
    assert (stored["applicationId"], stored["status"]) == (APPLICATION, "pending_step_up")
    # And the state it created holds from the write's sending (any check of the application saw it or a newer one)
    assert store.get(APPLICATION)["observedAt"] == store.timestamp(sent_at)


def update_answer(status: str, *, sent_at: float, received_at: float) -> ProviderResponse:
    """connectFi's answer to an update, holding the application in `status`, sent and received at those times."""
    return update_answer_of(state(status), sent_at=sent_at, received_at=received_at)


def update_answer_of(data: dict, *, sent_at: float, received_at: float) -> ProviderResponse:
    """connectFi's answer to an update, holding `data`."""
    body = json.dumps({"code": "0", "data": data, "requestId": "135520d078d411eeb5658f28ab5fe311"})
    return ProviderResponse("connectfi", 200, body, {}, sent_at=sent_at, received_at=received_at)


def seen_meanwhile(store, gateway, clock, *, after: float, connectfi_status: object) -> float:
    """An application stored long before, then another of its states seen `after` s past t, while an update sent at
    t was on its way; connectFi answering a status check with `connectfi_status`. t."""
    t = clock.stop()
    store.record_and_announce(state("pending_step_up"), observed_at=t - 10)
    store.record_and_announce(state("waiting_review"), observed_at=t + after)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, connectfi_status)
    return t


def test_an_update_answered_after_another_state_was_seen_meanwhile_stores_connectfis_status_instead(
    store, gateway, announcements, clock
):
    # Given two updates of one application on their way at once: the first (its answer slow) sent at t, the second
    # sent 0.4 s later and answered at once with the state connectFi made last, which is stored
    t = clock.stop()
    store.record_and_announce(state("pending_step_up"), observed_at=t - 10)
    write_answers.record_answer(update_answer("waiting_review", sent_at=t + 0.4, received_at=t + 0.6), creates=False)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("waiting_review"))

    # When the first update's answer arrives, with the state connectFi made first
    clock.advance(2)
    write_answers.record_answer(update_answer("pending_step_up", sent_at=t, received_at=t + 2), creates=False)

    # Then which came last cannot be told from the times: connectFi's status is asked for, and is what stands; no
    # event announces the older status after the newer one
    assert len(gateway.provider.requests(STATUS)) == 1
    assert store.get(APPLICATION)["status"] == "waiting_review"
    assert [event["status"] for event in details(announcements)] == ["pending_step_up", "waiting_review"]


def test_an_update_answered_after_a_check_that_did_not_see_it_is_stored_without_asking_again(
    store, gateway, clock, logs
):
    # Given an update on its way while a status check, sent after it and answered sooner, stored the same state;
    # connectFi would answer a status check (one asked for would be seen)
    t = seen_meanwhile(store, gateway, clock, after=0.2, connectfi_status=application("data_request"))

    # When the update's answer arrives with that same state, or with no other state seen since it was sent
    clock.advance(1)
    write_answers.record_answer(update_answer("waiting_review", sent_at=t, received_at=t + 1), creates=False)
    noted = store.get(APPLICATION)["observedAt"]
    write_answers.record_answer(update_answer("data_request", sent_at=t + 2, received_at=t + 3), creates=False)

    # Then each is stored as it is (the first noted as a check, from its answer's arrival), connectFi is not asked,
    # and nothing is counted as a state not recorded
    assert noted == store.timestamp(t + 1)
    assert gateway.provider.requests(STATUS) == []
    assert store.get(APPLICATION)["status"] == "data_request"
    assert "ApplicationsNotRecorded" not in logs()


def test_an_updates_state_found_as_stored_while_another_is_written_is_compared_with_it_as_seen_meanwhile(
    store, gateway, clock
):
    from kyc_gateway import aws

    # Given the state an update answers with seen by a check while the update was on its way, another state (seen by
    # another check) written just as the update's answer, found as stored, is noted as a check, and connectFi
    # answering a status check
    t = seen_meanwhile(store, gateway, clock, after=0.2, connectfi_status=application("completed", "Approved"))
    updates, written = [], []

    def another_state_written_meanwhile(**_: object) -> None:
        updates.append(1)
        if len(updates) == 2 and not written:  # the second: the note of a check that found the state as stored
            written.append(store.record_and_announce(state("data_request"), observed_at=t + 0.5))

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.UpdateItem", another_state_written_meanwhile)
    try:
        # When the update's answer arrives
        clock.advance(1)
        write_answers.record_answer(update_answer("waiting_review", sent_at=t, received_at=t + 1), creates=False)
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", another_state_written_meanwhile)

    # Then it is compared with the state written meanwhile as with any seen since the update was sent: which came
    # last cannot be told, so connectFi's status is asked for and stored
    assert written[0]["status"] == "data_request"
    assert len(gateway.provider.requests(STATUS)) == 1
    assert store.get(APPLICATION)["status"] == "completed"


@pytest.mark.parametrize(
    "change",
    EACH_FIELD_CHANGED,
    ids=lambda change: next(iter(change)),
)
def test_an_update_answering_a_state_that_differs_in_any_field_from_one_seen_meanwhile_asks_connectfi(
    store, gateway, clock, change
):
    # Given another state seen while an update was on its way, and connectFi answering a status check
    t = seen_meanwhile(store, gateway, clock, after=0.5, connectfi_status=application("completed", "Approved"))

    # When the update's answer arrives with that state but one field (the others, entityApplications too, alike)
    clock.advance(1)
    write_answers.record_answer(
        update_answer_of(state("waiting_review") | change, sent_at=t, received_at=t + 1), creates=False
    )

    # Then it is another state: which came last cannot be told, so connectFi's status is asked for and stored
    assert len(gateway.provider.requests(STATUS)) == 1
    assert (store.get(APPLICATION)["status"], store.get(APPLICATION)["outcome"]) == ("completed", "Approved")


def test_a_state_seen_in_the_very_millisecond_an_update_was_sent_counts_as_seen_meanwhile(store, gateway, clock):
    # Given another state seen by a check asked for in the millisecond an update was sent, and connectFi answering
    # a status check
    t = seen_meanwhile(store, gateway, clock, after=0, connectfi_status=application("completed", "Approved"))

    # When the update's answer arrives with another state
    clock.advance(1)
    write_answers.record_answer(update_answer("data_request", sent_at=t, received_at=t + 1), creates=False)

    # Then which came last cannot be told from the times: connectFi's status is asked for and stored
    assert len(gateway.provider.requests(STATUS)) == 1
    assert store.get(APPLICATION)["status"] == "completed"


def test_an_update_whose_status_check_connectfi_fails_leaves_the_state_seen_and_is_not_counted_unrecorded(
    store, gateway, clock, logs
):
    # Given another state seen while an update was on its way, and connectFi failing the status check asked then
    t = seen_meanwhile(store, gateway, clock, after=0.5, connectfi_status=connectfi_error(500, "internal"))

    # When the update's answer arrives
    clock.advance(1)
    write_answers.record_answer(update_answer("data_request", sent_at=t, received_at=t + 1), creates=False)

    # Then the state seen stays stored, a warning names the provider and the application the reconciliation checks,
    # and nothing pages as a state not recorded (connectFi failed, not the table)
    assert store.get(APPLICATION)["status"] == "waiting_review"
    (line,) = log_lines(logs(), "application state not confirmed: the reconciliation checks it if stored")
    assert (line["code"], line["provider"], line["application_id"]) == ("provider_error", "connectfi", APPLICATION)
    assert "ApplicationsNotRecorded" not in logs()


def test_an_updates_state_is_dated_from_its_answers_arrival_however_late_it_is_stored(store, clock):
    # Given an update sent at t and answered at t + 1, no other state seen since
    t = clock.stop()
    store.record_and_announce(state("pending_step_up"), observed_at=t - 10)

    # When its answer is stored only at t + 4
    clock.advance(4)
    write_answers.record_answer(update_answer("data_request", sent_at=t, received_at=t + 1), creates=False)

    # Then the state it stored holds from the answer's arrival (a check sent after that sees it or a newer one)
    assert store.get(APPLICATION)["observedAt"] == store.timestamp(t + 1)


def test_the_status_an_update_asks_for_is_dated_from_the_checks_sending_however_slowly_it_is_answered(
    store, gateway, clock
):
    # Given another state seen while an update was on its way, and connectFi answering the status check asked then
    # 3 s after its sending
    t = seen_meanwhile(
        store,
        gateway,
        clock,
        after=0.5,
        connectfi_status=Reply(body=json.dumps(application("data_request")).encode(), delay=3),
    )
    gateway.provider.wait = clock.advance

    # When the update's answer, received at t + 1, is stored at t + 2
    clock.advance(2)
    write_answers.record_answer(update_answer("data_request", sent_at=t, received_at=t + 1), creates=False)

    # Then connectFi's status is stored as of the check's sending (it may have changed while the answer came)
    assert len(gateway.provider.requests(STATUS)) == 1
    stored = store.get(APPLICATION)
    assert (stored["status"], stored["observedAt"]) == ("data_request", store.timestamp(t + 2))
