"""connectFi webhook processing: confirm with /akepa/status, store, announce once; the stored-state route."""

from __future__ import annotations

import json
import operator
import time

import pytest

from local.functions import invoke
from project import template as cfn
from tests.integration.routes.test_connectfi import APPLICATION, CUSTOMER, LOGIN, STATUS, application, login_reply
from tests.integration.test_deployed_template import dead_letter_alarm, transformed
from tests.support import emf
from tests.support.fake_provider import Reply
from tests.support.waiting import wait_for
from tests.support.webhooks import (
    PROCESSOR,
    TOKEN,
    deliver,
    max_receives,
    process_queue,
    queued,
    read_application,
    webhook,
)

# --- processor ------------------------------------------------------------------------------------------------------


def test_a_webhook_is_confirmed_with_status_stored_and_announced(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    assert read_application(APPLICATION)["statusCode"] == 404

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)

    (fetch,) = gateway.provider.requests(STATUS)
    assert fetch.json() == {"customerId": CUSTOMER, "applicationId": APPLICATION}
    answer = read_application(APPLICATION)
    state = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert (state["status"], state["outcome"], state["reference"]) == ("completed", "Approved", "extRefApp100")
    assert state["entityApplications"][0]["entityId"] == CUSTOMER
    assert state["createdAt"] and state["updatedAt"]
    (event,) = announcements()
    assert event["detail-type"] == "ApplicationStatusChanged"
    assert event["detail"]["status"] == "completed" and event["detail"]["applicationId"] == APPLICATION
    assert queued(sqs, url) == []


def test_the_webhook_is_only_a_signal_the_stored_state_is_the_providers(gateway, queues):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("waiting_review"))

    deliver(gateway, webhook("completed", "Approved"))  # claims completed; connectFi says otherwise
    process_queue(gateway, sqs, url)

    assert json.loads(read_application(APPLICATION)["body"])["status"] == "waiting_review"


def test_a_duplicate_delivery_is_processed_once(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)
    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)

    assert len(gateway.provider.requests(STATUS)) == 1
    assert len(announcements()) == 1
    assert queued(sqs, url) == []


def test_duplicates_in_one_batch_are_processed_once(gateway, queues):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))

    deliver(gateway, webhook())
    deliver(gateway, webhook())
    process_queue(gateway, sqs, url, rounds=3)

    assert len(gateway.provider.requests(STATUS)) == 1
    assert queued(sqs, url) == []


def test_a_completed_application_never_moves_backwards(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"), application("waiting_review"))

    deliver(gateway, webhook("completed", "Approved"))
    process_queue(gateway, sqs, url)
    deliver(gateway, webhook("waiting_review", None))  # a late, older state
    process_queue(gateway, sqs, url)

    assert json.loads(read_application(APPLICATION)["body"])["status"] == "completed"
    assert [event["detail"]["status"] for event in announcements()] == ["completed"]


def test_a_status_change_is_announced_each_time_and_only_then(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(
        STATUS, application("waiting_review"), application("waiting_review"), application("completed", "Approved")
    )

    for claimed in ("waiting_review", "running", "completed"):
        deliver(gateway, webhook(claimed, None))
        process_queue(gateway, sqs, url)

    assert [event["detail"]["status"] for event in announcements()] == ["waiting_review", "completed"]


def test_poison_records_fail_alone_and_reach_the_dead_letter_queue(gateway, queues):
    sqs, url, dlq = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    sqs.send_message(QueueUrl=url, MessageBody='{"hello": "not a connectFi webhook"}')  # bypassing the receiver
    deliver(gateway, webhook())

    process_queue(gateway, sqs, url, rounds=max_receives() + 1)  # the last receive, then one more poll

    assert json.loads(read_application(APPLICATION)["body"])["status"] == "completed"  # the good record went through
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"]) for message in dead] == [{"hello": "not a connectFi webhook"}]
    assert queued(sqs, url) == []


# The SQS attribute each CloudWatch metric of a queue reports (SQS publishes the queue's counts once a minute)
SQS_METRIC_OF_ATTRIBUTE = {"ApproximateNumberOfMessages": "ApproximateNumberOfMessagesVisible"}


def test_a_dead_lettered_webhook_puts_the_dead_letter_alarm_in_alarm(gateway, queues, physical_ids):
    # Given the queue the processor reads as deployed, and the alarm on its dead-letter queue
    sqs, url, _ = queues
    dead_letters, alarm = dead_letter_alarm(transformed("dev"))
    (attribute,) = [name for name, metric in SQS_METRIC_OF_ATTRIBUTE.items() if metric == alarm["MetricName"]]
    compare = {"GreaterThanOrEqualToThreshold": operator.ge, "GreaterThanThreshold": operator.gt}[
        alarm["ComparisonOperator"]
    ]

    def alarmed() -> bool:
        counted = sqs.get_queue_attributes(QueueUrl=physical_ids[dead_letters], AttributeNames=[attribute])
        return compare(int(counted["Attributes"][attribute]), alarm["Threshold"])

    assert alarm["Statistic"] == "Maximum" and not alarmed()

    # When a record the processor cannot use fails every receive the queue allows
    sqs.send_message(QueueUrl=url, MessageBody='{"hello": "not a connectFi webhook"}')
    process_queue(gateway, sqs, url, rounds=max_receives() + 1)

    # Then the dead-letter queue's count, as the alarm reads it, meets the alarm's threshold
    assert alarmed()


def test_a_provider_failure_returns_the_record_after_the_retry_delay_and_the_retry_then_succeeds(
    gateway, queues, monkeypatch
):
    sqs, url, _ = queues
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "3")  # long enough for a slow machine to look in between
    gateway.new_instance()
    gateway.provider.reply(LOGIN, login_reply())
    # status is a read: the client already retries 3 times, so 3 failures make this attempt fail
    failures = [Reply(500, b'{"code": "internal"}')] * 3
    gateway.provider.reply(STATUS, *failures, application("completed", "Approved"))

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)
    assert read_application(APPLICATION)["statusCode"] == 404
    # the record waits the retry delay the processor set (not the poller's immediate return)...
    process_queue(gateway, sqs, url)
    assert len(gateway.provider.requests(STATUS)) == 3

    # ...then comes back and succeeds
    def came_back():
        process_queue(gateway, sqs, url)
        return read_application(APPLICATION)["statusCode"] != 404

    wait_for(came_back, 10, every=0.2)

    assert json.loads(read_application(APPLICATION)["body"])["status"] == "completed"
    assert len(gateway.provider.requests(STATUS)) == 4


@pytest.mark.parametrize(
    ("receive_count", "circuit_open_for", "delay"),
    [(1, 0, 30), (2, 0, 60), (4, 0, 240), (1, 44.2, 46), (3, 10, 120), (9, 0, 900)],
)
def test_the_retry_delay_doubles_with_each_receive_never_ends_while_the_circuit_is_open_and_is_capped(
    receive_count, circuit_open_for, delay
):
    from kyc_gateway.providers.connectfi import webhooks

    assert webhooks.retry_delay(receive_count, circuit_open_for, base_seconds=30) == delay


def test_the_processor_reports_partial_batch_failures(gateway):
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    records = [
        {"messageId": "good", "body": json.dumps(webhook())},
        {"messageId": "bad", "body": "{not json"},
    ]

    result = invoke(cfn.functions()[PROCESSOR], {"Records": records})

    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


@pytest.mark.parametrize("application_id", ["iapp-with-dash", "x" * 37])
def test_reading_an_invalid_application_id_is_400(gateway, application_id):
    assert read_application(application_id)["statusCode"] == 400


def test_logs_hold_no_webhook_token_or_connectfi_token(gateway, queues, logs):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply("cfi-secret-token"))
    gateway.provider.reply(STATUS, application("completed", "Approved"))

    deliver(gateway, webhook())
    deliver(gateway, webhook(), token="guess")
    process_queue(gateway, sqs, url)

    written = logs()
    assert "request completed" in written
    assert TOKEN not in written and "cfi-secret-token" not in written


# --- idempotency configurations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("webhook_first", [True, False])
def test_keyed_writes_and_webhook_deduplication_keep_their_own_rules_in_either_order(gateway, queues, webhook_first):
    from tests.integration.routes.test_signzy_repush import LOGIN as SIGNZY_LOGIN
    from tests.integration.routes.test_signzy_repush import ONBOARDING_ID, REPUSH, SUCCESS
    from tests.integration.routes.test_signzy_repush import login_reply as signzy_login

    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    gateway.provider.reply(SIGNZY_LOGIN, signzy_login("t"))
    gateway.provider.reply(REPUSH, SUCCESS)
    key = [("Idempotency-Key", "order-key")]

    def webhooks_twice() -> None:
        for _ in range(2):
            deliver(gateway, webhook())
            process_queue(gateway, sqs, url)

    def keyed_write_then_reuse():
        first = gateway.call("SignzyRepushFunction", {"onboardingId": ONBOARDING_ID}, headers=key)
        reused = gateway.call("SignzyRepushFunction", {"onboardingId": "65a1b2c3d4e5f60718293fff"}, headers=key)
        return first, reused

    # In one process (one instance of each function, as in `make run`), in either order
    if webhook_first:
        webhooks_twice()
        first, reused = keyed_write_then_reuse()
    else:
        first, reused = keyed_write_then_reuse()
        webhooks_twice()

    # the key reused with another body is still a 409, and a duplicate delivery still one status fetch
    assert (first.status, reused.status, reused.error["code"]) == (200, 409, "idempotency_key_reused")
    assert len(gateway.provider.requests(REPUSH)) == 1
    assert len(gateway.provider.requests(STATUS)) == 1


# --- claims: a delivery held by another invocation ------------------------------------------------------------------


def _claim_of(gateway, aws, body: dict) -> tuple[object, str, dict]:
    from kyc_gateway import claims
    from kyc_gateway.providers.connectfi import webhooks

    delivery = webhooks.Signal.model_validate(body).delivery()
    key = {"id": {"S": claims.key_of(webhooks.IDEMPOTENCY_KEY_PREFIX, delivery)}}
    return aws.client("dynamodb"), gateway.physical_ids["IdempotencyTable"], key


def _held_until(dynamodb, table: str, key: dict, until_ms: int) -> None:
    item = {"status": {"S": "INPROGRESS"}, "expiration": {"N": str(int(time.time()) + 3600)}}
    dynamodb.put_item(TableName=table, Item=key | item | {"in_progress_expiration": {"N": str(until_ms)}})


def test_a_delivery_another_invocation_holds_is_returned_for_a_retry_and_never_fetched_twice(gateway, aws, logs):
    # Given another invocation is processing the same delivery (its claim holds for another minute)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    dynamodb, table, key = _claim_of(gateway, aws, webhook())
    _held_until(dynamodb, table, key, int(time.time() * 1000) + 60_000)

    # When the processor receives it
    result = invoke(cfn.functions()[PROCESSOR], {"Records": [{"messageId": "m1", "body": json.dumps(webhook())}]})

    # Then the record goes back to the queue and connectFi is not asked
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert gateway.provider.requests(STATUS) == []
    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["status"]["S"] == "INPROGRESS"
    # and a duplicate is no fault of the gateway's: it never rolls a deployment back
    counted = emf.named(logs())
    assert "RecordFailures" in counted and "GatewayFaults" not in counted


def test_a_claim_left_by_an_invocation_that_ended_is_taken_over_and_completed(gateway, aws):
    # Given a claim whose invocation ended without completing it (killed at its timeout)
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    dynamodb, table, key = _claim_of(gateway, aws, webhook())
    _held_until(dynamodb, table, key, int(time.time() * 1000) - 1)

    # When the delivery comes back
    result = invoke(cfn.functions()[PROCESSOR], {"Records": [{"messageId": "m1", "body": json.dumps(webhook())}]})

    # Then it is processed, and its record completed for the deduplication window
    assert result == {"batchItemFailures": []}
    assert len(gateway.provider.requests(STATUS)) == 1
    item = dynamodb.get_item(TableName=table, Key=key)["Item"]
    assert item["status"]["S"] == "COMPLETED" and "in_progress_expiration" not in item
    assert int(item["expiration"]["N"]) > time.time() + 23 * 3600


def test_a_failed_delivery_releases_its_claim_so_its_retry_runs_at_once(gateway, aws):
    # Given connectFi fails every status read of a first attempt, then answers
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, *[Reply(500, b'{"code": "internal"}')] * 3, application("completed", "Approved"))
    dynamodb, table, key = _claim_of(gateway, aws, webhook())
    record = [{"messageId": "m1", "body": json.dumps(webhook())}]

    # When the delivery fails, then comes back while the failed invocation's claim would still hold
    failed = invoke(cfn.functions()[PROCESSOR], {"Records": record})
    retried = invoke(cfn.functions()[PROCESSOR], {"Records": record})

    # Then its claim was released: the retry runs (it is not refused as held elsewhere) and completes it
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert retried == {"batchItemFailures": []}
    assert len(gateway.provider.requests(STATUS)) == 4
    assert dynamodb.get_item(TableName=table, Key=key)["Item"]["status"]["S"] == "COMPLETED"


def test_a_delivery_claimed_before_this_code_keeps_its_record_id():
    # Records written by Powertools Idempotency (which the processor used before) have the same id
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from kyc_gateway import claims
    from kyc_gateway.providers.connectfi import webhooks

    delivery = webhooks.Signal.model_validate(webhook()).delivery()
    powertools = DynamoDBPersistenceLayer(table_name="unused", boto3_client=object())
    powertools.configure(IdempotencyConfig(), key_prefix=webhooks.IDEMPOTENCY_KEY_PREFIX)

    assert claims.key_of(webhooks.IDEMPOTENCY_KEY_PREFIX, delivery) == powertools._get_hashed_idempotency_key(delivery)
