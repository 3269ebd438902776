"""connectFi webhook ingestion meeting a queue that fails: which failures are retried, how the retries are paced
within the budget, and what the answer, the count and the log say when the delivery could not be queued."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from tests.integration.routes.test_connectfi_webhook_ingestion import FlakyQueue, read_timeout, unreachable
from tests.support import emf
from tests.support.emf import log_lines
from tests.support.webhooks import TOKEN, deliver, queued, webhook

MAX_WEBHOOK_BYTES = 256 * 1024  # an SQS message's limit


class StillClock:
    """The gateway's monotonic clock, moving only when the gateway sleeps: the retries' pacing, exactly, at once."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def still_clock(monkeypatch) -> StillClock:
    from kyc_gateway import clock

    still = StillClock()
    monkeypatch.setattr(clock, "monotonic", still.monotonic)
    monkeypatch.setattr(clock, "sleep", still.sleep)
    monkeypatch.setattr(random, "uniform", lambda low, high: low + (high - low) / 4)  # the jitter at a quarter
    return still


class FailingQueue:
    """A queue failing every send with `error()`, noting when (on the gateway's clock) each attempt came."""

    def __init__(self, still_clock: StillClock, error) -> None:
        self.clock, self.error, self.attempts = still_clock, error, []

    def send_message(self, **arguments):
        self.attempts.append(self.clock.monotonic())
        if len(self.attempts) > 100:  # no budget allows this many: fail now rather than retry forever
            pytest.fail("the queue was retried past its budget")
        raise self.error()


def sqs_error(status: int | None, code: str | None = None):
    """A botocore ClientError as SQS answers it; `None` leaves out the part of the answer (an answer cut short)."""
    from botocore.exceptions import ClientError

    response: dict = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "refused"}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return lambda: ClientError(response, "SendMessage")


def connect_timeout():
    from botocore.exceptions import ConnectTimeoutError

    return ConnectTimeoutError(endpoint_url="http://sqs")  # never connected: never sent


# Every attempt within the 10 s budget: waits of 50 ms doubling up to 1 s, each jittered (x 0.75 here), and none
# once its full wait would end past the budget.
RETRIED = list(itertools.accumulate([0.0, 0.0375, 0.075, 0.15, 0.3, 0.6] + [0.75] * 11))
SENT_ONCE = [0.0]


@pytest.mark.parametrize(
    ("failure", "attempts", "code", "named"),
    [
        (read_timeout, RETRIED, "webhook_queue_outcome_unknown", "ReadTimeoutError"),
        (unreachable, RETRIED, "webhook_not_queued", "EndpointConnectionError"),
        (connect_timeout, RETRIED, "webhook_not_queued", "ConnectTimeoutError"),
        (sqs_error(500, "InternalError"), RETRIED, "webhook_queue_outcome_unknown", "InternalError"),
        (sqs_error(503, "ServiceUnavailable"), RETRIED, "webhook_queue_outcome_unknown", "ServiceUnavailable"),
        (sqs_error(400, "Throttling"), RETRIED, "webhook_not_queued", "Throttling"),
        (sqs_error(400, "ThrottlingException"), RETRIED, "webhook_not_queued", "ThrottlingException"),
        (sqs_error(400, "RequestThrottled"), RETRIED, "webhook_not_queued", "RequestThrottled"),
        (sqs_error(400, "KMS.ThrottlingException"), RETRIED, "webhook_not_queued", "KMS.ThrottlingException"),
        (sqs_error(403, "AccessDenied"), SENT_ONCE, "webhook_not_queued", "AccessDenied"),
        # the highest 4xx: still SQS refusing this request, not failing
        (sqs_error(499, "InvalidMessageContents"), SENT_ONCE, "webhook_not_queued", "InvalidMessageContents"),
        (sqs_error(400, None), SENT_ONCE, "webhook_not_queued", "ClientError"),
        (sqs_error(None, "InternalError"), RETRIED, "webhook_queue_outcome_unknown", "InternalError"),
    ],
)
def test_each_queue_failure_is_retried_or_not_and_answered_as_what_is_known_of_the_delivery(
    gateway, still_clock, monkeypatch, logs, failure, attempts, code, named
):
    from kyc_gateway import aws

    # Given a queue failing every send the same way
    queue = FailingQueue(still_clock, failure)
    monkeypatch.setattr(aws, "quick_client", lambda service: queue)

    # When connectFi delivers a webhook
    answer = deliver(gateway, webhook())

    # Then the queue was tried again only when that may help, paced within the budget; the answer says whether the
    # delivery may have been queued all the same (an answer lost after sending, an SQS 5xx); and the failure is
    # counted by provider and logged by name
    assert queue.attempts == pytest.approx(attempts)
    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (503, code)
    written = logs()
    counted = "WebhooksQueueOutcomeUnknown" if code == "webhook_queue_outcome_unknown" else "WebhooksNotQueued"
    assert emf.named(written)[counted]["Provider"] == "connectfi"
    message = "webhook queue outcome unknown" if code == "webhook_queue_outcome_unknown" else "webhook not queued"
    (line,) = log_lines(written, message)
    assert (line["level"], line["provider"], line["error"]) == ("ERROR", "connectfi", named)
    assert TOKEN not in written


def test_a_delivery_that_may_have_reached_the_queue_once_stays_outcome_unknown_whatever_follows(
    gateway, still_clock, monkeypatch
):
    from kyc_gateway import aws

    # Given a queue whose first answer is lost after sending, then cannot be reached at all
    class LostThenUnreachable(FailingQueue):
        def send_message(self, **arguments):
            self.error = read_timeout if not self.attempts else unreachable
            super().send_message(**arguments)

    queue = LostThenUnreachable(still_clock, read_timeout)
    monkeypatch.setattr(aws, "quick_client", lambda service: queue)

    answer = deliver(gateway, webhook())

    # Then the caller is not told it was not queued: the first attempt may have queued it
    assert len(queue.attempts) == len(RETRIED)
    assert json.loads(answer["body"])["error"]["code"] == "webhook_queue_outcome_unknown"


@pytest.mark.parametrize("failure", [sqs_error(400, "ThrottlingException"), sqs_error(503, "ServiceUnavailable")])
def test_a_queue_that_recovers_within_the_budget_keeps_the_delivery(gateway, queues, still_clock, monkeypatch, failure):
    from kyc_gateway import aws

    sqs, url, _ = queues
    flaky = FlakyQueue(sqs, failures=5, error=failure)
    monkeypatch.setattr(aws, "quick_client", lambda service: flaky)

    answer = deliver(gateway, webhook())

    assert (answer["statusCode"], flaky.attempts) == (202, 6)
    assert len(queued(sqs, url)) == 1


# --- the size of what is queued ---------------------------------------------------------------------------------------


def padded(size: int, note: str = "") -> str:
    """A webhook of exactly `size` bytes (UTF-8), `note` in it."""
    claim = webhook()
    claim["data"]["note"] = note
    text = json.dumps(claim, ensure_ascii=False)
    claim["padding"] = "x" * (size - len(text.encode()) - len(', "padding": ""'))
    text = json.dumps(claim, ensure_ascii=False)
    assert len(text.encode()) == size
    return text


def test_a_webhook_of_exactly_an_sqs_messages_size_is_queued(gateway, queues):
    sqs, url, _ = queues
    raw = padded(MAX_WEBHOOK_BYTES)

    answer = deliver(gateway, None, raw=raw)

    assert answer["statusCode"] == 202
    assert queued(sqs, url) == [raw]


def test_a_webhook_that_outgrows_an_sqs_message_once_escaped_is_413_and_not_queued(gateway, queues):
    sqs, url, _ = queues
    # Given a webhook within the limit whose one character SQS refuses (3 bytes) is escaped as \ufffe (6 bytes)
    raw = padded(MAX_WEBHOOK_BYTES - 2, note="\ufffe")

    answer = deliver(gateway, None, raw=raw)

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (413, "request_too_large")
    issue = f"must be at most {MAX_WEBHOOK_BYTES} bytes"
    assert error["details"] == [{"field": "body", "issue": issue, "type": "body"}]
    assert queued(sqs, url) == []


# --- the token --------------------------------------------------------------------------------------------------------


def test_a_webhook_token_of_the_minimum_length_is_accepted(gateway, queues, secrets_manager):
    sqs, url, _ = queues
    token = "t" * 32
    secret_id = gateway.physical_ids["ConnectFiWebhookSecret"]
    secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"token": token}))
    gateway.new_instance()

    assert deliver(gateway, webhook(), token=token)["statusCode"] == 202
    assert deliver(gateway, webhook(), token=token[:-1])["statusCode"] == 401
    assert len(queued(sqs, url)) == 1


def test_a_guess_shorter_than_any_token_is_refused_without_reading_the_secret(gateway, queues, secrets_manager):
    # Given a webhook secret that cannot be read (a token too short to be one: a configuration error)
    secret_id = gateway.physical_ids["ConnectFiWebhookSecret"]
    secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"token": "t" * 31}))
    gateway.new_instance()

    # When a stranger guesses shorter than any token could be, Then it is refused as a wrong token
    short = deliver(gateway, webhook(), token="t" * 31)
    assert (short["statusCode"], json.loads(short["body"])["error"]["code"]) == (401, "invalid_webhook_token")
    # While a guess long enough to be compared meets the secret (which a token this short cannot be)
    longer = deliver(gateway, webhook(), token="t" * 32)
    assert (longer["statusCode"], json.loads(longer["body"])["error"]["code"]) == (500, "configuration_error")
