"""connectFi reconciliation, the applications that leave its queue: one that stands still for the maximum age, one
connectFi always fails on, one written by hand without a readable change time (checked, never retired), one that
changed since it was read (not retired)."""

from __future__ import annotations

import json

import pytest

from project import template as cfn
from tests.integration.routes.test_connectfi import (
    IDENTIFICATION,
    IDENTIFY,
    IDENTIFY_FN,
    LOGIN,
    STATUS,
    login_reply,
)
from tests.integration.routes.test_connectfi_reconciliation import AFTER, reconcile, state_of
from tests.support.fake_provider import Reply
from tests.support.webhooks import read_application

MAX_AGE = float(cfn.load()["Parameters"]["ReconcileMaxAgeSeconds"]["Default"])  # RECONCILE_MAX_AGE_SECONDS
DAY = 24 * 3600


def test_an_application_that_stands_still_for_the_maximum_age_is_no_longer_checked_and_kept_as_it_is(
    gateway, clock, logs
):
    # Given two applications connectFi keeps answering unchanged: one ended in a status that is not final for the
    # gateway (connectFi's only final status is completed), one that changes halfway
    gateway.provider.reply(LOGIN, login_reply())
    still, moving = "iapp_standsStill", "iapp_movesOn"
    for application_id in (still, moving):
        gateway.provider.reply(IDENTIFY, state_of(application_id, "data_request"))
        gateway.call(IDENTIFY_FN, IDENTIFICATION)

    # When the reconciliation checks them once a day, each check finding the same state, one changing midway
    days = int(MAX_AGE // DAY) + 1
    for day in range(days):
        clock.advance(DAY)
        status = "running" if day >= days // 2 else "data_request"
        gateway.provider.reply(STATUS, state_of(still, "data_request"), state_of(moving, status))
        counts = reconcile()
        if counts["retired"]:
            break

    # Then the one that stood still for the maximum age leaves the queue, counted, with its state as it was
    assert counts["retired"] == 1 and (day + 1) * DAY >= MAX_AGE > day * DAY
    written = logs()
    assert '"ApplicationsNoLongerReconciled":[1.0]' in written.replace(" ", "")
    stored = json.loads(read_application(still)["body"])
    assert (stored["status"], stored["updatedAt"] == stored["createdAt"]) == ("data_request", True)
    # And later runs check only the one that moved
    clock.advance(AFTER + 1)
    gateway.provider.reply(STATUS, state_of(moving, "running"))
    before = len(gateway.provider.requests(STATUS))
    assert reconcile()["checked"] == 1
    (checked,) = [json.loads(r.body)["applicationId"] for r in gateway.provider.requests(STATUS)[before:]]
    assert checked == moving


def test_an_application_connectfi_always_fails_on_ages_out_too(gateway, clock):
    # Given an application whose every check connectFi fails on (after it was started)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, state_of("iapp_alwaysFails", "data_request"))
    gateway.call(IDENTIFY_FN, IDENTIFICATION)
    gateway.provider.reply(STATUS, Reply(500, b'{"code": "internal"}'))

    # When the maximum age has passed since its last change
    clock.advance(MAX_AGE + 1)
    counts = reconcile()

    # Then it is no longer checked (it would be, forever)
    assert (counts["failed"], counts["retired"]) == (1, 1)
    clock.advance(AFTER + 1)
    assert reconcile()["checked"] == 0


@pytest.mark.parametrize("updated_at", [None, "last week"], ids=["without", "unreadable"])
def test_an_application_written_by_hand_without_a_readable_change_time_is_checked_but_never_retired(
    gateway, clock, aws, updated_at
):
    from kyc_gateway.providers.connectfi import applications
    from kyc_gateway.settings import get_settings

    # Given an open application put in the table by hand, its updatedAt missing or not a time, which connectFi fails
    # to answer about
    item = {
        "applicationId": {"S": "iapp_byHand"},
        "customerId": {"S": "cstap_byHand"},
        "status": {"S": "waiting_review"},
        "open": {"S": "open"},
        "checkedAt": {"S": "2000-01-01T00:00:00.000Z"},
    }
    if updated_at is not None:
        item["updatedAt"] = {"S": updated_at}
    aws.client("dynamodb").put_item(TableName=get_settings().require("applications_table_name"), Item=item)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, Reply(500, b'{"code": "internal"}'))

    # When the reconciliation runs long after the maximum age
    clock.advance(MAX_AGE + 1)
    counts = reconcile()

    # Then it was checked and failed, is still in the queue, and nothing else broke
    assert (counts["checked"], counts["failed"], counts["retired"]) == (1, 1, 0)
    assert applications.get("iapp_byHand").get("open") == "open"


def test_an_application_that_changed_since_it_was_read_is_not_retired(gateway, clock):
    from kyc_gateway.providers.connectfi import applications

    # Given an application read long after its last change, and a webhook changing it right after
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, state_of("iapp_movesLate", "data_request"))
    gateway.call(IDENTIFY_FN, IDENTIFICATION)
    read = applications.get("iapp_movesLate")
    clock.advance(1)
    applications.record_and_announce(state_of("iapp_movesLate", "running")["data"])

    # When the reconciliation would retire it on what it read, Then it does not: it moved
    assert applications.retire("iapp_movesLate", read["updatedAt"]) is False
    assert applications.get("iapp_movesLate").get("open") == "open"
