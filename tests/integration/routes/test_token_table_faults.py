"""The token table failing under a provider route: a renewal's lease that cannot be written, or whose answer was
lost, and a row the gateway cannot use never take the provider down; the token is fetched and the row renewed."""

from __future__ import annotations

import pytest

from tests.integration.routes.test_signzy_repush import LOGIN, ONBOARDING_ID, REPUSH
from tests.support.aws_faults import LOST, inject, on_table, refused
from tests.support.dynamodb import plain
from tests.support.emf import log_lines

SIGNZY = "SignzyRepushFunction"
LEASE = "SET leaseOwner = :me, leaseUntil"  # the renewal lease's update, as the token cache writes it
FAR = {"N": "9999999999"}


def token_row_key() -> str:
    from kyc_gateway.settings import get_settings
    from kyc_gateway.token_cache import cache_key

    return cache_key("signzy", get_settings().base_url("signzy"))


def stored_row(aws, physical_ids) -> dict:
    table = physical_ids["TokenTable"]
    return plain(aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": token_row_key()}})["Item"])


@pytest.mark.parametrize("error", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_lease_the_table_refuses_to_write_is_done_without_and_the_request_served(
    signzy, aws, physical_ids, logs, error
):
    # Given the token table refusing the renewal's lease (its reads work)
    made = inject("dynamodb", "UpdateItem", on_table(physical_ids["TokenTable"], refused(error), text=LEASE))

    # When a request needs a token
    answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})

    # Then the token is fetched without the lease, as when the table cannot be read, and the repush answered
    assert refused(error) in made
    assert answer.status == 200
    assert (len(signzy.provider.requests(LOGIN)), len(signzy.provider.requests(REPUSH))) == (1, 1)
    (line,) = log_lines(logs(), "token lease not written; fetching without it")
    assert line["error"] == error


def test_a_lease_whose_answer_was_lost_is_taken_by_botocores_retry_not_waited_for(signzy, aws, physical_ids, clock):
    # Given DynamoDB applies the renewal's lease but its answer is lost (botocore sends the same write again)
    clock.skip_sleeps()
    made = inject("dynamodb", "UpdateItem", on_table(physical_ids["TokenTable"], LOST, times=1, text=LEASE))
    started = clock.now()

    # When a request needs a token
    answer = signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})

    # Then the retried write finds the instance's own lease and takes it: one login, stored for every instance,
    # without waiting for the lease to expire
    assert made[:2] == [LOST, None]
    assert answer.status == 200
    assert clock.now() - started < 1
    assert len(signzy.provider.requests(LOGIN)) == 1
    row = stored_row(aws, physical_ids)
    assert (row["token"], "leaseOwner" in row) == ("token-1", False)


def needed_on_two_instances(signzy, aws, physical_ids, row: dict) -> list:
    """`row` put in the token table by hand, then a repush on this instance and one on a new instance: answers."""
    table = physical_ids["TokenTable"]
    aws.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": token_row_key()}, **row})
    answers = [signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID})]
    signzy.new_instance()
    answers.append(signzy.call(SIGNZY, {"onboardingId": ONBOARDING_ID}))
    return answers


@pytest.mark.parametrize(
    "row",
    [
        {"token": {"N": "97531"}, "expiresAt": FAR, "renewAt": FAR},
        {"token": {"S": "token\r\nX-Injected: 1"}, "expiresAt": FAR, "renewAt": FAR},
        {"token": {"S": "token with spaces"}, "expiresAt": FAR, "renewAt": FAR},
        {"token": {"S": ""}, "expiresAt": FAR, "renewAt": FAR},
        {"token": {"S": "token-0"}, "expiresAt": {"S": "tomorrow"}, "renewAt": FAR},
        {"token": {"S": "token-0"}, "expiresAt": FAR},
    ],
    ids=["a number", "a line break", "spaces", "empty", "an expiry in words", "no renewal time"],
)
def test_a_token_row_the_gateway_cannot_use_is_renewed_and_replaced(signzy, aws, physical_ids, logs, row):
    # Given a token row the gateway cannot use (edited by hand, or written by another version)
    # When requests need the token, on this instance and on a new one
    answers = needed_on_two_instances(signzy, aws, physical_ids, row)

    # Then the gateway logs in once, sends the new token, and replaces the row with it for every instance
    assert [answer.status for answer in answers] == [200, 200]
    assert len(signzy.provider.requests(LOGIN)) == 1
    assert {request.headers["Authorization"] for request in signzy.provider.requests(REPUSH)} == {"Bearer token-1"}
    assert stored_row(aws, physical_ids)["token"] == "token-1"
    # and says so, naming the row's fields, never its values
    (line, *_) = log_lines(logs(), "token row unusable; renewing it")
    assert set(line["fields"]) <= {"pk", "token", "expiresAt", "renewAt"}
    assert "token-0" not in logs() and "97531" not in logs()


@pytest.mark.parametrize("field", ["refusedAt", "failedAt", "leaseUntil"])
def test_a_refusal_failure_or_lease_time_in_words_on_a_token_row_is_as_if_absent(signzy, aws, physical_ids, field):
    # Given an expired token row whose refusal, failure or lease time is not a number (edited by hand)
    row = {"token": {"S": "token-0"}, "expiresAt": {"N": "1"}, "renewAt": {"N": "1"}, field: {"S": "yesterday"}}
    # When requests need the token, on this instance and on a new one
    answers = needed_on_two_instances(signzy, aws, physical_ids, row)

    # Then the gateway logs in once and serves both (never a 500 for every request of the provider)
    assert [answer.status for answer in answers] == [200, 200]
    assert len(signzy.provider.requests(LOGIN)) == 1
    assert stored_row(aws, physical_ids)["token"] == "token-1"
