"""connectFi webhooks: the receiver (token, validation, queue), the processor (confirm, store, announce, once),
and the stored-state route."""

from __future__ import annotations

import json
import re

import pytest

from local import template as cfn
from local.functions import invoke
from local.sqs_poller import SqsPoller
from tests.conftest import SECRETS
from tests.functions.test_connectfi import APPLICATION, CUSTOMER, LOGIN, STATUS, application, login_reply
from tests.support.fake_provider import Reply

RECEIVER = "ConnectFiWebhookFunction"
PROCESSOR = "ConnectFiWebhookProcessorFunction"
READER = "ConnectFiApplicationFunction"
TOKEN = SECRETS["connectfiwebhook"]["token"]


def webhook(status: str = "completed", outcome: str | None = "Approved") -> dict:
    return application(status, outcome)


@pytest.fixture
def queues(gateway, aws):
    sqs = aws.client("sqs")
    queue_url = gateway.physical_ids["WebhookQueue"]
    dlq_url = gateway.physical_ids["WebhookDeadLetterQueue"]
    return sqs, queue_url, dlq_url


@pytest.fixture
def announcements(gateway, aws):
    """ApplicationStatusChanged events, caught by a rule on the default bus into a queue."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="announcements")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="catch", EventPattern=json.dumps({"source": ["kyc-gateway.connectfi"]}))
    events.put_targets(Rule="catch", Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received


def deliver(gateway, body, token: str = TOKEN, raw: str | None = None):
    from local.api_events import proxy_event

    spec = cfn.functions()[RECEIVER]
    event = proxy_event(
        "POST",
        f"/connectfi/webhooks/{token}",
        resource="/connectfi/webhooks/{token}",
        headers=[("Content-Type", "application/json")],
        body=raw if raw is not None else json.dumps(body),
        path_parameters={"token": token},
    )
    return invoke(spec, event)


def queued(sqs, url) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [message["Body"] for message in messages]


def process_queue(gateway, sqs, url, rounds: int = 1) -> None:
    queue_arn = gateway.physical_ids["WebhookQueue.Arn"]
    poller = SqsPoller(
        sqs,
        cfn.functions()[PROCESSOR],
        url,
        queue_arn,
        batch_size=10,
        report_batch_item_failures=True,
        invoke=invoke,
        retry_delay=0,
    )
    for _ in range(rounds):
        poller.poll_once()


def _read(application_id: str):
    from local.api_events import proxy_event

    event = proxy_event(
        "GET",
        f"/connectfi/applications/{application_id}",
        resource="/connectfi/applications/{applicationId}",
        path_parameters={"applicationId": application_id},
    )
    return invoke(cfn.functions()[READER], event)


# --- receiver -------------------------------------------------------------------------------------------------------


def test_a_webhook_with_the_right_token_is_queued_raw_and_answered_202(gateway, queues):
    sqs, url, _ = queues
    raw = json.dumps(webhook(), indent=2)

    answer = deliver(gateway, None, raw=raw)

    assert answer["statusCode"] == 202
    assert json.loads(answer["body"]) == {"status": "accepted"}
    assert answer["headers"]["X-Correlation-Id"]
    assert queued(sqs, url) == [raw]


@pytest.mark.parametrize("token", ["wrong-token", "", TOKEN[:-1], TOKEN + "x"])
def test_a_wrong_token_is_401_and_nothing_is_queued(gateway, queues, token):
    sqs, url, _ = queues

    answer = deliver(gateway, webhook(), token=token)

    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_webhook_token"
    assert queued(sqs, url) == []


DEEP = "[" * 10_000 + "]" * 10_000
BAD_BODIES = [
    ("not json", 400),
    ("[1, 2]", 400),
    ("", 400),
    ('{"data": {}}', 400),
    (DEEP, 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": NaN}', 400),
    ('{"data": {"applicationId": "iapp_1", "customerId": "c_1", "status": "\\ud800"}}', 400),
    ("{" + '"a": "' + "x" * 300_000 + '"}', 413),
]


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES)
def test_a_stranger_gets_401_whatever_the_body_and_learns_nothing_of_the_schema(gateway, queues, raw, status):
    sqs, url, _ = queues

    answer = deliver(gateway, None, raw=raw, token="guess")

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"], error["details"]) == (401, "invalid_webhook_token", [])
    assert queued(sqs, url) == []


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES)
def test_bad_bodies_with_the_right_token_are_refused_and_nothing_is_queued(gateway, queues, raw, status):
    sqs, url, _ = queues

    answer = deliver(gateway, None, raw=raw)

    assert answer["statusCode"] == status
    assert queued(sqs, url) == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"data": {"applicationId": "iapp_1", "customerId": "c_1"}, "score": NaN}',
        '{"data": {"applicationId": "iapp_1", "customerId": "c_1", "status": "\\udfff"}}',
        DEEP,
    ],
)
def test_the_processor_refuses_what_ingestion_refuses(gateway, raw):
    result = invoke(cfn.functions()[PROCESSOR], {"Records": [{"messageId": "m1", "body": raw}]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert gateway.provider.requests() == []


def test_any_content_type_is_accepted_from_connectfi(gateway, queues):
    from local.api_events import proxy_event

    sqs, url, _ = queues
    event = proxy_event(
        "POST",
        f"/connectfi/webhooks/{TOKEN}",
        resource="/connectfi/webhooks/{token}",
        headers=[("Content-Type", "text/plain")],
        body=json.dumps(webhook()),
        path_parameters={"token": TOKEN},
    )

    assert invoke(cfn.functions()[RECEIVER], event)["statusCode"] == 202
    assert len(queued(sqs, url)) == 1


class StrictQueue:
    """SQS's own rule, which the emulator does not apply: a message may not carry these characters."""

    NOT_ALLOWED = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

    def __init__(self, sqs) -> None:
        self.sqs = sqs

    def send_message(self, **arguments):
        from botocore.exceptions import ClientError

        if self.NOT_ALLOWED.search(arguments["MessageBody"]):
            error = {"Code": "InvalidMessageContents", "Message": "Invalid characters"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendMessage")
        return self.sqs.send_message(**arguments)


def test_characters_sqs_cannot_carry_are_escaped_not_dropped(gateway, queues, monkeypatch):
    from kyc_gateway import aws

    sqs, url, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: StrictQueue(sqs))
    claim = webhook()
    claim["data"]["note"] = "odd \ufffe character, and a name: Zoë"

    answer = deliver(gateway, None, raw=json.dumps(claim, ensure_ascii=False))

    assert answer["statusCode"] == 202
    (body,) = queued(sqs, url)
    assert json.loads(body) == claim
    assert "Zoë" in body  # only the refused character is escaped: the body does not grow six-fold


def test_a_queue_refusing_the_message_for_good_is_not_retried(gateway, queues, monkeypatch):
    from kyc_gateway import aws, webhooks

    sqs, _, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: StrictQueue(sqs))
    monkeypatch.setattr(webhooks, "_sqs_text", lambda text: text)  # as if escaping were forgotten
    claim = webhook()
    claim["data"]["note"] = "\ufffe"

    answer = deliver(gateway, None, raw=json.dumps(claim, ensure_ascii=False))

    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (503, "webhook_not_queued")


class FlakyQueue:
    """The webhook queue, failing its first `failures` sends."""

    def __init__(self, sqs, failures: int) -> None:
        self.sqs, self.failures, self.attempts = sqs, failures, 0

    def send_message(self, **arguments):
        self.attempts += 1
        if self.attempts <= self.failures:
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url="http://sqs")
        return self.sqs.send_message(**arguments)


def test_a_slow_queue_is_retried_and_the_delivery_kept(gateway, queues, monkeypatch):
    from kyc_gateway import aws

    sqs, url, _ = queues
    flaky = FlakyQueue(sqs, failures=2)
    monkeypatch.setattr(aws, "quick_client", lambda service: flaky)

    answer = deliver(gateway, webhook())

    assert answer["statusCode"] == 202
    assert flaky.attempts == 3
    assert len(queued(sqs, url)) == 1


def test_a_queue_that_stays_down_is_503_and_counted(gateway, queues, monkeypatch, logs):
    from kyc_gateway import aws, webhooks

    sqs, _, _ = queues
    monkeypatch.setattr(aws, "quick_client", lambda service: FlakyQueue(sqs, failures=1000))
    monkeypatch.setattr(webhooks, "_ENQUEUE_BUDGET_SECONDS", 0.3)

    answer = deliver(gateway, webhook())

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (503, "webhook_not_queued")
    written = logs()
    assert '"WebhooksNotQueued":[1.0]' in written.replace(" ", "")
    assert TOKEN not in written


# --- processor ------------------------------------------------------------------------------------------------------


def test_a_webhook_is_confirmed_with_status_stored_and_announced(gateway, queues, announcements):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    gateway.provider.reply(STATUS, application("completed", "Approved"))
    assert _read(APPLICATION)["statusCode"] == 404

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)

    (fetch,) = gateway.provider.requests(STATUS)
    assert fetch.json() == {"customerId": CUSTOMER, "applicationId": APPLICATION}
    answer = _read(APPLICATION)
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

    assert json.loads(_read(APPLICATION)["body"])["status"] == "waiting_review"


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

    assert json.loads(_read(APPLICATION)["body"])["status"] == "completed"
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

    process_queue(gateway, sqs, url, rounds=6)  # maxReceiveCount is 5

    assert json.loads(_read(APPLICATION)["body"])["status"] == "completed"  # the good record went through
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(message["Body"]) for message in dead] == [{"hello": "not a connectFi webhook"}]
    assert queued(sqs, url) == []


def test_a_provider_failure_returns_the_record_for_a_retry_which_then_succeeds(gateway, queues):
    sqs, url, _ = queues
    gateway.provider.reply(LOGIN, login_reply())
    # status is a read: the client already retries 3 times, so 3 failures make this attempt fail
    failures = [Reply(500, b'{"code": "internal"}')] * 3
    gateway.provider.reply(STATUS, *failures, application("completed", "Approved"))

    deliver(gateway, webhook())
    process_queue(gateway, sqs, url)
    assert _read(APPLICATION)["statusCode"] == 404
    process_queue(gateway, sqs, url)

    assert json.loads(_read(APPLICATION)["body"])["status"] == "completed"


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
    assert _read(application_id)["statusCode"] == 400


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
    from tests.functions.test_signzy_repush import LOGIN as SIGNZY_LOGIN
    from tests.functions.test_signzy_repush import ONBOARDING_ID, REPUSH, SUCCESS
    from tests.functions.test_signzy_repush import login_reply as signzy_login

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
