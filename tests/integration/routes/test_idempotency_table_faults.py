"""A keyed write when the gateway's own tables fail around it: the key is held only when the write may have reached
the provider; an error before any write began frees it, and a claim DynamoDB applied but whose answer was lost is
still this request's."""

from __future__ import annotations

import pytest

from kyc_gateway import idempotency_keys
from kyc_gateway.providers import signzy as signzy_provider
from tests.integration.routes.test_idempotency_keys import REFUSED, SIGNZY, SUCCESS, key, records
from tests.integration.routes.test_signzy_repush import ONBOARDING_ID, REPUSH
from tests.support.aws_faults import LOST, inject, on_table, refused

REPUSH_BODY = {"onboardingId": ONBOARDING_ID}


def test_a_claim_applied_whose_answer_was_lost_is_taken_by_botocores_retry_and_the_write_sent_once(
    signzy, physical_ids, aws, monkeypatch
):
    # Given DynamoDB applies the key's claim but its answer is lost (botocore then sends the same claim again)
    made = inject("dynamodb", "PutItem", on_table(physical_ids["IdempotencyTable"], LOST, times=1))

    # When the caller repushes under a key
    first = signzy.call(SIGNZY, REPUSH_BODY, headers=key("lost-claim"))

    # Then the retried claim finds the request's own record and takes it: the repush is sent and answered
    assert made[:2] == [LOST, None]
    assert first.status == 200
    assert [record["status"] for record in records(aws, physical_ids)] == ["COMPLETED"]
    # and a retry under the key, however late, is the stored answer, not a second repush
    monkeypatch.setattr(idempotency_keys, "LONGEST_INVOCATION_SECONDS", 0)
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("lost-claim"))
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (200, "true")
    assert len(signzy.provider.requests(REPUSH)) == 1


def fault_before_the_write(monkeypatch) -> list:
    """A fault of the gateway's own (a bug, none of its errors) in Signzy's first login, before any write; the
    logins tried."""
    log_in, logins = signzy_provider.SignzyClient.log_in, []

    def broken_once(*args, **kwargs):
        logins.append(args)
        if len(logins) == 1:
            raise KeyError("a bug before the write")
        return log_in(*args, **kwargs)

    monkeypatch.setattr(signzy_provider.SignzyClient, "log_in", broken_once)
    return logins


@pytest.mark.parametrize("delete", ["done", "refused once"])
def test_a_failure_before_any_write_began_frees_the_key_for_a_retry(signzy, physical_ids, monkeypatch, delete):
    # Given a keyed repush failing by a fault of the gateway's own before its write began, the key's record deleted
    # by Powertools, or (its delete refused) by the gateway's second try
    fault_before_the_write(monkeypatch)
    if delete == "refused once":
        table = physical_ids["IdempotencyTable"]
        inject("dynamodb", "DeleteItem", on_table(table, refused("AccessDeniedException"), times=1))
    first = signzy.call(SIGNZY, REPUSH_BODY, headers=key("before-write"))
    sent_first = len(signzy.provider.requests(REPUSH))

    # When the caller retries under the same key
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("before-write"))

    # Then the retry is done: the first sent nothing, so its key was never held as "outcome unknown"
    assert (first.status, first.error["code"], sent_first) == (500, "internal_error", 0)
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (200, "false")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_key_that_cannot_be_freed_stays_held_and_says_so(signzy, physical_ids, monkeypatch, logs):
    # Given a keyed repush failing before its write began, and the idempotency table refusing every delete
    from tests.support.emf import log_lines

    fault_before_the_write(monkeypatch)
    table = physical_ids["IdempotencyTable"]
    inject("dynamodb", "DeleteItem", on_table(table, refused("AccessDeniedException")))
    first = signzy.call(SIGNZY, REPUSH_BODY, headers=key("held-fast"))

    # When the caller retries under the same key
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("held-fast"))

    # Then the key stays held (in use: never a write the gateway cannot account for), and a warning names the error
    assert (first.status, first.error["code"]) == (500, "internal_error")
    assert (again.status, again.error["code"]) == (409, "idempotency_key_in_use")
    assert signzy.provider.requests(REPUSH) == []
    (line,) = log_lines(logs(), "idempotency key not freed")
    assert line["code"] == "KeyError"


def test_a_claim_of_its_own_applied_late_never_overwrites_the_requests_finished_answer(signzy, physical_ids, aws):
    # Given a keyed repush answered and stored, its record carrying the claim's owner
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError

    assert signzy.call(SIGNZY, REPUSH_BODY, headers=key("late-claim")).status == 200
    (stored,) = records(aws, physical_ids)

    # When the same claim is applied again (a late copy of the request's first attempt)
    idempotency_keys._claim.owner = stored["claimOwner"]
    try:
        data = idempotency_keys._data_of("signzy.repush", "late-claim", signzy_provider.RepushRequest(**REPUSH_BODY))
        with pytest.raises(IdempotencyItemAlreadyExistsError):
            idempotency_keys.persistence_store().save_inprogress(data=data)
    finally:
        idempotency_keys._claim.owner = None

    # Then the finished answer stands: a retry under the key is its replay
    assert [record["status"] for record in records(aws, physical_ids)] == ["COMPLETED"]
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("late-claim"))
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (200, "true")


def test_a_claim_applied_whose_every_answer_was_lost_is_released_and_a_retry_sends_the_write_once(
    signzy, physical_ids, aws
):
    # Given DynamoDB applies the key's claim on each of botocore's attempts and loses every answer
    made = inject("dynamodb", "PutItem", on_table(physical_ids["IdempotencyTable"], LOST, times=3))
    first = signzy.call(SIGNZY, REPUSH_BODY, headers=key("all-lost"))
    left = records(aws, physical_ids)

    # When the caller retries under the same key
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("all-lost"))

    # Then the first, which sent nothing, released its claim: the retry is done, never "in use" or "outcome unknown"
    assert (made[:3], first.status, first.error["code"]) == ([LOST] * 3, 500, "internal_error")
    assert left == []
    assert (again.status, again.headers.get("Idempotent-Replayed")) == (200, "false")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_claim_refused_never_releases_the_key_another_request_holds(signzy, physical_ids, aws, logs):
    # Given another request holding the key (its record in progress) and the table refusing this request's claim
    from tests.support.emf import log_lines

    assert signzy.call(SIGNZY, REPUSH_BODY, headers=key("earlier")).status == 200  # the route's records configured
    data = idempotency_keys._data_of("signzy.repush", "held-elsewhere", signzy_provider.RepushRequest(**REPUSH_BODY))
    idempotency_keys._claim.owner = "another-request"
    try:
        idempotency_keys.persistence_store().save_inprogress(data=data)
    finally:
        idempotency_keys._claim.owner = None
    table = physical_ids["IdempotencyTable"]
    inject("dynamodb", "PutItem", on_table(table, refused("ProvisionedThroughputExceededException")))

    # When a request under the same key fails to claim it
    refused_claim = signzy.call(SIGNZY, REPUSH_BODY, headers=key("held-elsewhere"))

    # Then the other request's record stands (this one's release deletes only its own), and nothing was sent
    assert (refused_claim.status, refused_claim.error["code"]) == (500, "internal_error")
    held = [(r["status"], r["claimOwner"]) for r in records(aws, physical_ids) if r["status"] == "INPROGRESS"]
    assert held == [("INPROGRESS", "another-request")]
    assert len(signzy.provider.requests(REPUSH)) == 1  # the earlier request's only
    assert log_lines(logs(), "idempotency key not freed") == []


def test_a_failure_whose_keys_delete_was_applied_but_lost_answers_its_own_error_and_the_key_is_free(
    signzy, physical_ids, aws, logs
):
    # Given a repush Signzy refused with nothing done, and the delete of its key applied with its answer lost
    # (botocore's retry of it then finds no record of the request's own)
    from tests.support.emf import log_lines

    signzy.provider.reply(REPUSH, REFUSED, SUCCESS)
    made = inject("dynamodb", "DeleteItem", on_table(physical_ids["IdempotencyTable"], LOST, times=1))
    failed = signzy.call(SIGNZY, REPUSH_BODY, headers=key("delete-lost"))

    # When the caller retries under the same key
    retried = signzy.call(SIGNZY, REPUSH_BODY, headers=key("delete-lost"))

    # Then the first answered Signzy's own failure (not the table's), the key was free, and nothing warns it is held
    assert made[0] == LOST
    assert (failed.status, failed.error["code"]) == (502, "provider_error")
    assert (retried.status, retried.headers.get("Idempotent-Replayed")) == (200, "false")
    assert len(signzy.provider.requests(REPUSH)) == 2
    assert log_lines(logs(), "idempotency key not freed") == []


def test_a_lost_claim_that_cannot_be_released_stays_held_and_the_logs_name_the_tables_error(
    signzy, physical_ids, aws, logs
):
    # Given DynamoDB applies the key's claim on each of botocore's attempts and loses every answer, and refuses
    # every delete of the key's record
    from tests.support.emf import log_lines

    table = physical_ids["IdempotencyTable"]
    inject("dynamodb", "PutItem", on_table(table, LOST, times=3))
    inject("dynamodb", "DeleteItem", on_table(table, refused("AccessDeniedException")))

    # When the caller sends a keyed repush, then retries it under the same key
    first = signzy.call(SIGNZY, REPUSH_BODY, headers=key("lost-and-held"))
    again = signzy.call(SIGNZY, REPUSH_BODY, headers=key("lost-and-held"))

    # Then the key stays held (in use, never sent), and the operator's lines name the idempotency table's failure,
    # the one the request answered 500 for and could not free the key after
    assert (first.status, first.error["code"]) == (500, "internal_error")
    assert (again.status, again.error["code"]) == (409, "idempotency_key_in_use")
    assert signzy.provider.requests(REPUSH) == []
    (unhandled,) = log_lines(logs(), "unhandled error")
    (not_freed,) = log_lines(logs(), "idempotency key not freed")
    assert unhandled["error"] == not_freed["code"] == "IdempotencyPersistenceLayerError"
