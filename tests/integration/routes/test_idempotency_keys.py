"""Idempotency-Key on provider write routes: a caller's retry reaches the provider once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from kyc_gateway import idempotency_keys
from kyc_gateway.providers import signzy as signzy_provider
from local.functions import cold_start
from project import template as cfn
from tests.integration.routes.test_cdp import ONBOARD, ONBOARD_SUCCESS, ONBOARDING_BODY, token_reply
from tests.integration.routes.test_cdp import TOKEN as CDP_TOKEN
from tests.integration.routes.test_connectfi import IDENTIFICATION, IDENTIFY, application, login_reply
from tests.integration.routes.test_connectfi import LOGIN as CONNECTFI_LOGIN
from tests.integration.routes.test_signzy_repush import LOGIN, ONBOARDING_ID, REPUSH, SUCCESS
from tests.integration.routes.test_signzy_repush import login_reply as signzy_login
from tests.support.dynamodb import plain
from tests.support.emf import log_lines
from tests.support.fake_provider import Reply
from tests.support.waiting import wait_for

SIGNZY = "SignzyRepushFunction"


def key(value: str) -> list[tuple[str, str]]:
    return [("Idempotency-Key", value)]


def records(aws, physical_ids) -> list[dict]:
    """The idempotency table's records, as plain values."""
    items = aws.client("dynamodb").scan(TableName=physical_ids["IdempotencyTable"], ConsistentRead=True)["Items"]
    return [plain(item) for item in items]


def test_a_replay_with_the_same_key_and_body_returns_the_stored_answer_without_a_provider_call(signzy):
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))
    signzy.provider.reply(REPUSH, {"message": "a second repush would answer this"})

    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))

    assert (first.status, again.status) == (200, 200)
    assert again.text == first.text
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_the_same_key_with_another_body_is_409(signzy):
    signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("order-42"))

    other = signzy.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293fff"}, headers=key("order-42"))

    assert (other.status, other.error["code"]) == (409, "idempotency_key_reused")
    assert other.error["message"] == "This Idempotency-Key was used with another request body"
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_key_still_in_flight_is_409_until_its_invocation_ends(signzy, aws, monkeypatch):
    # Given a first request held at the provider until the test lets it answer
    held = threading.Event()
    monkeypatch.setattr(signzy.provider, "wait", lambda _delay: held.wait(10))
    signzy.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=1))
    answers = {}
    first = threading.Thread(
        target=lambda: answers.setdefault(
            "first", signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("slow-1"))
        ),
        daemon=True,
    )
    first.start()
    try:
        # until the first request is at the provider, i.e. in flight
        wait_for(lambda: signzy.provider.requests(REPUSH), 10, every=0.01, what="the first request at the provider")

        # When the same key comes again while it is there
        answers["second"] = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("slow-1"))
        (in_flight,) = records(aws, signzy.physical_ids)
    finally:
        held.set()  # a failed test must not leave the answer to land in the next one
    first.join(timeout=30)
    assert not first.is_alive()

    # Then the second is refused, and the first answered
    assert answers["first"].status == 200
    assert (answers["second"].status, answers["second"].error["code"]) == (409, "idempotency_key_in_use")
    assert answers["second"].error["message"] == "A request with this Idempotency-Key is still in progress"
    assert len(signzy.provider.requests(REPUSH)) == 1
    # The key is held with no end of its own: a first invocation killed while holding it never frees it
    assert in_flight["status"] == "INPROGRESS" and "in_progress_expiration" not in in_flight


class Killed(BaseException):
    """Lambda ending an invocation from outside (its timeout, out of memory): no handler code runs after it."""


def killed_after_the_repush(signzy, monkeypatch, idempotency_key: str) -> None:
    """A repush Signzy did under `idempotency_key`, whose invocation was then killed before it could answer or store
    anything."""

    def killed(response):
        raise Killed()

    monkeypatch.setattr(signzy_provider, "_success_or_raise", killed)
    with pytest.raises(Killed):
        signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key(idempotency_key))
    monkeypatch.undo()


def the_table_fails(monkeypatch, operation: str) -> Callable[[], None]:
    """The idempotency table failing `operation` of the persistence layer (get_record, delete_record, save_success)
    from now on; the function returned makes it answer again."""
    store = idempotency_keys.persistence_store()
    working = getattr(store, operation)

    def failing(*args, **kwargs):
        raise ConnectionError("the table did not answer")

    monkeypatch.setattr(store, operation, failing)
    return lambda: monkeypatch.setattr(store, operation, working)


def test_a_key_whose_first_request_was_killed_after_sending_is_never_sent_again(signzy, monkeypatch):
    # Given a repush Signzy did, whose invocation was then killed before it could answer or store anything
    killed_after_the_repush(signzy, monkeypatch, "killed-1")

    # When the caller retries under the key, at once and once no invocation could still be running it
    at_once = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("killed-1"))
    monkeypatch.setattr(idempotency_keys, "LONGEST_INVOCATION_SECONDS", 0)
    later = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("killed-1"))

    # Then neither sends the repush again: first the key is in use, then its outcome is unknown, and how to tell
    assert (at_once.status, at_once.error["code"]) == (409, "idempotency_key_in_use")
    assert (later.status, later.error["code"]) == (409, "idempotency_outcome_unknown")
    advice = [{"field": "Idempotency-Key", "issue": signzy_provider.REPUSH_OUTCOME_CHECK, "type": "header"}]
    assert later.error["details"] == advice
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_key_in_use_whose_record_the_table_cannot_read_is_still_in_use_never_sent_again(signzy, monkeypatch):
    # Given a first request killed while holding its key, long enough ago, and the table failing to read its record
    killed_after_the_repush(signzy, monkeypatch, "unread-1")
    monkeypatch.setattr(idempotency_keys, "LONGEST_INVOCATION_SECONDS", 0)
    the_table_fails(monkeypatch, "get_record")

    # When the caller retries under the key
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("unread-1"))

    # Then it is told the key is in use (what can be known), and nothing is sent again
    assert (again.status, again.error["code"]) == (409, "idempotency_key_in_use")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_forwarded_body_is_its_bytes_so_the_same_json_spaced_otherwise_is_another_body(gateway):
    # Given a CDP onboarding (its body forwarded as the caller wrote it) done under a key
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)
    compact = json.dumps(ONBOARDING_BODY, separators=(",", ":"))
    assert gateway.call("CdpOnboardingFunction", raw=compact, headers=key("bytes-1")).status == 200

    # When the same JSON comes again under the key with other spacing, and then as first sent
    spaced = gateway.call("CdpOnboardingFunction", raw=json.dumps(ONBOARDING_BODY, indent=2), headers=key("bytes-1"))
    same = gateway.call("CdpOnboardingFunction", raw=compact, headers=key("bytes-1"))

    # Then other bytes are another body (CDP would get other bytes), the same bytes a replay; CDP reached once
    assert (spaced.status, spaced.error["code"]) == (409, "idempotency_key_reused")
    assert (same.status, same.headers["Idempotent-Replayed"]) == (200, "true")
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_a_keyed_answer_is_kept_24_hours_under_the_prefix_its_functions_role_reaches(signzy, aws):
    before = time.time()
    signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("kept-1"))

    (record,) = records(aws, signzy.physical_ids)
    prefix = cfn.functions()[SIGNZY].properties["Tags"]["kyc-gateway:idempotency"]  # its role's tag, as SAM copies it
    assert record["id"].startswith(f"{prefix}#")
    assert record["status"] == "COMPLETED"
    assert int(before) + 24 * 3600 <= int(record["expiration"]) <= time.time() + 24 * 3600


# Signzy refusing the repush (a 4xx: nothing done, though undocumented); an undocumented 5xx leaves it unknown
REFUSED = Reply(422, b'{"error": {"statusCode": 422, "name": "ValidationError", "message": "invalid"}}')


def test_failures_are_not_stored_so_the_key_can_be_retried(signzy):
    signzy.provider.reply(REPUSH, REFUSED, SUCCESS)

    failed = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("retry-me"))
    retried = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("retry-me"))

    assert (failed.status, retried.status) == (502, 200)
    assert len(signzy.provider.requests(REPUSH)) == 2


def test_a_failure_whose_key_the_table_did_not_free_at_once_still_answers_its_own_error_and_frees_it(
    signzy, monkeypatch, logs
):
    # Given a repush Signzy refused with nothing done, and the idempotency table failing the first delete of its key
    signzy.provider.reply(REPUSH, REFUSED, SUCCESS)
    store = idempotency_keys.persistence_store()
    delete = store.delete_record
    failed_deletes = []

    def flaky_delete(*args, **kwargs):
        if not failed_deletes:
            failed_deletes.append(True)
            raise ConnectionError("the table did not answer")
        return delete(*args, **kwargs)

    monkeypatch.setattr(store, "delete_record", flaky_delete)

    # When the request fails, then is retried under its key
    failed = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("flaky-1"))
    retried = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("flaky-1"))

    # Then the caller got Signzy's failure (not the table's 500), and the key was freed by a second try
    assert (failed.status, failed.error["code"], retried.status) == (502, "provider_error", 200)
    assert len(signzy.provider.requests(REPUSH)) == 2
    assert log_lines(logs(), "idempotency key not freed") == []


def test_a_failure_whose_key_the_table_never_freed_answers_its_own_error_and_its_retries_are_refused(
    signzy, monkeypatch, logs
):
    # Given a repush Signzy refused with nothing done, and the idempotency table failing every delete
    signzy.provider.reply(REPUSH, REFUSED, SUCCESS)
    answers_again = the_table_fails(monkeypatch, "delete_record")
    failed = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("stuck-1"))
    answers_again()

    # When it is retried under its key
    retried = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("stuck-1"))

    # Then the caller got Signzy's failure, the key left held says so in the log, and the retry is refused
    assert (failed.status, failed.error["code"]) == (502, "provider_error")
    (line,) = log_lines(logs(), "idempotency key not freed")
    assert line["code"] == "provider_error"
    assert (retried.status, retried.error["code"]) == (409, "idempotency_key_in_use")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_an_unknown_outcome_the_table_could_not_store_keeps_the_key_held_never_freed(
    signzy, provider_timeouts, monkeypatch
):
    # Given a repush that timed out after it was sent (its outcome unknown), and the table failing to store that
    provider_timeouts.short()
    signzy.provider.reply(REPUSH, Reply(200, json.dumps(SUCCESS).encode(), delay=2.5))
    answers_again = the_table_fails(monkeypatch, "save_success")
    first = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-unsaved"))
    answers_again()
    provider_timeouts.default()

    # When the caller retries under the key
    signzy.provider.reply(REPUSH, SUCCESS)
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("late-unsaved"))

    # Then the first got its own timeout, and the key is still held (not freed as after a failure with nothing done)
    assert (first.status, first.error["code"]) == (504, "provider_timeout")
    assert (again.status, again.error["code"]) == (409, "idempotency_key_in_use")
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_a_success_the_table_could_not_store_is_answered_and_its_key_never_sent_again(signzy, monkeypatch, logs):
    # Given a repush Signzy did, and the idempotency table failing to store its answer
    answers_again = the_table_fails(monkeypatch, "save_success")
    done = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("unsaved-1"))
    answers_again()

    # When the caller retries under its key
    again = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("unsaved-1"))

    # Then the first got Signzy's answer, and the retry is refused (the key held), never a second repush
    assert (done.status, done.json(), done.headers["Idempotent-Replayed"]) == (200, SUCCESS, "false")
    assert (again.status, again.error["code"]) == (409, "idempotency_key_in_use")
    assert len(signzy.provider.requests(REPUSH)) == 1
    (line,) = log_lines(logs(), "idempotency answer not stored")
    assert line["route"] == "signzy.repush"


def test_without_a_key_every_request_reaches_the_provider(signzy):
    for _ in range(2):
        answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})
        assert "Idempotent-Replayed" not in answer.headers

    assert len(signzy.provider.requests(REPUSH)) == 2


@pytest.mark.parametrize("bad_key", ["has space", "x" * 256, "<script>", "-leading-dash", ".dot", "a/b", ""])
def test_an_unusable_key_is_400(signzy, bad_key):
    answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key(bad_key))

    assert (answer.status, answer.error["code"]) == (400, "validation_error")
    assert answer.error["details"] == [
        {"field": "Idempotency-Key", "issue": "must be 1-255 letters, digits or . _ : -", "type": "header"}
    ]
    assert signzy.provider.requests(REPUSH) == []


@pytest.mark.parametrize("good_key", ["A", "9", "z.Z_0:9-x", "x" * 255])
def test_keys_of_1_to_255_letters_digits_and_dot_underscore_colon_dash_are_used(signzy, good_key):
    answers = [signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key(good_key)) for _ in range(2)]

    assert [answer.status for answer in answers] == [200, 200]
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert len(signzy.provider.requests(REPUSH)) == 1


def test_keys_are_scoped_per_route(gateway):
    gateway.provider.reply(LOGIN, signzy_login("token-1"))
    gateway.provider.reply(REPUSH, SUCCESS)
    gateway.provider.reply(CONNECTFI_LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    repush = gateway.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("shared-key"))
    identify = gateway.call("ConnectFiIdentificationFunction", IDENTIFICATION, headers=key("shared-key"))

    assert (repush.status, identify.status) == (200, 200)
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_a_body_of_any_field_types_is_fingerprinted_as_its_json(physical_ids, monkeypatch):
    from datetime import date

    from pydantic import BaseModel

    from kyc_gateway.idempotency_keys import IdempotencyKeyReused, replay_or_run

    # Given a write route whose body has fields JSON has no type for (a date, raw bytes)
    class Upload(BaseModel):
        on: date
        image: bytes

    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", physical_ids["IdempotencyTable"])
    cold_start()
    runs = []

    def upload(image: bytes) -> tuple[str, bool]:
        body = Upload(on=date(2025, 1, 2), image=image)
        return replay_or_run("uploads.put", "put-1", body, lambda: runs.append(image) or "{}", how_to_check="")

    # When it is sent twice under one key, then with another image
    answers = [upload(b"front"), upload(b"front")]
    with pytest.raises(IdempotencyKeyReused):
        upload(b"back")

    # Then it ran once, its replay was recognised, and the other body was told apart
    assert answers == [("{}", False), ("{}", True)]
    assert runs == [b"front"]


def test_cdp_onboarding_replays_reach_cdp_once(gateway):
    gateway.provider.reply(CDP_TOKEN, token_reply(1))
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    answers = [gateway.call("CdpOnboardingFunction", ONBOARDING_BODY, headers=key("onboard-7")) for _ in range(3)]

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert len(gateway.provider.requests(ONBOARD)) == 1


def test_connectfi_identification_replays_reach_connectfi_once(gateway):
    gateway.provider.reply(CONNECTFI_LOGIN, login_reply())
    gateway.provider.reply(IDENTIFY, application())

    answers = [
        gateway.call("ConnectFiIdentificationFunction", IDENTIFICATION, headers=key("ident-1")) for _ in range(2)
    ]

    assert answers[0].text == answers[1].text
    assert len(gateway.provider.requests(IDENTIFY)) == 1


def test_every_answer_to_a_keyed_request_says_whether_it_was_replayed(signzy):
    # Given a key used once
    signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("said-1"))

    # When it comes back with another body, or a key the gateway cannot use comes
    reused = signzy.call(SIGNZY, {"onboardingId": "65a1b2c3d4e5f60718293fff"}, headers=key("said-1"))
    unusable = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}, headers=key("-not a key"))

    # And a keyed request refused for its body
    refused = signzy.call(SIGNZY, {"onboardingId": "not an id"}, headers=key("said-2"))

    # Then each error answer says it is not a stored one; a request without a key gets no such header
    assert (refused.status, refused.headers["Idempotent-Replayed"]) == (400, "false")
    assert (reused.status, reused.headers["Idempotent-Replayed"]) == (409, "false")
    assert (unusable.status, unusable.headers["Idempotent-Replayed"]) == (400, "false")
    assert "Idempotent-Replayed" not in signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}).headers
