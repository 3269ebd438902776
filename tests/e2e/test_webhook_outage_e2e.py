"""Drills of the webhook pipeline's retry net on the running local stack, against a connectFi double that goes down:
a short outage dead-letters nothing, and a redrive done while connectFi's circuit is still open is processed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from project import template as cfn
from tests.e2e.conftest import running_stack
from tests.e2e.test_operations_e2e import TOKEN, services, wait_for
from tests.integration.routes.test_connectfi import APPLICATION, application, login_reply
from tests.support.fake_provider import FakeProvider, Reply

LOGIN, STATUS = "/cfi/auth/get-token", "/cfi/akepa/status"
DOWN = Reply(503, b'{"message": "Service Unavailable"}')
OUTAGE_SECONDS = 20


@pytest.fixture
def connectfi() -> Iterator[FakeProvider]:
    """A connectFi double, up: its token endpoint and a completed application's status."""
    double = FakeProvider().start()
    double.reply(LOGIN, login_reply())
    double.reply(STATUS, application("completed", "Approved"))
    yield double
    double.stop()


@pytest.fixture
def stack(connectfi: FakeProvider, state_file: Path) -> Iterator[dict]:
    """The stack as configured by default, connectFi at the double."""
    yield from running_stack(state_file, CONNECTFI_BASE_URL=f"{connectfi.url}/cfi")


@pytest.fixture
def quick_circuit_stack(connectfi: FakeProvider, state_file: Path) -> Iterator[dict]:
    """The stack with connectFi's circuit opening at its first failure for 10 s, and a 2 s retry base."""
    yield from running_stack(
        state_file,
        CONNECTFI_BASE_URL=f"{connectfi.url}/cfi",
        PROVIDER_CIRCUIT_FAILURES="1",
        PROVIDER_CIRCUIT_COOLDOWN_SECONDS="10",
        WEBHOOK_RETRY_BASE_SECONDS="2",
    )


def queues(aws_url: str):
    sqs = boto3.client(
        "sqs", endpoint_url=aws_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    source = sqs.get_queue_url(QueueName="kyc-gateway-local-connectfi-webhooks")["QueueUrl"]
    return sqs, source, sqs.get_queue_url(QueueName="kyc-gateway-local-connectfi-webhooks-dlq")["QueueUrl"]


def depth(sqs, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def stored_status(api: str) -> str | None:
    answer = requests.get(f"{api}/connectfi/applications/{APPLICATION}", timeout=10)
    return answer.json().get("status") if answer.status_code == 200 else None


def test_a_twenty_second_outage_during_a_webhook_dead_letters_nothing_and_the_change_lands_after_it(connectfi, stack):
    # Given the stack as configured by default, and connectFi down
    api, aws_url, _ = services(stack)
    sqs, source, dead = queues(aws_url)
    connectfi.reply(STATUS, DOWN)
    down_at = time.monotonic()

    # When connectFi's webhook arrives during the outage, and connectFi comes back 20 s later
    webhook = application("completed", "Approved")
    assert requests.post(f"{api}/connectfi/webhooks/{TOKEN}", json=webhook, timeout=10).status_code == 202
    wait_for(lambda: connectfi.requests(STATUS), 10)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    tries_during_outage = len(connectfi.requests(STATUS))
    connectfi.reply(STATUS, application("completed", "Approved"))

    # Then the change lands after the recovery, nothing was dead-lettered, and the record did not spend its
    # receives retrying every second while connectFi was down
    assert wait_for(lambda: stored_status(api) == "completed", 60)
    wait_for(lambda: depth(sqs, source) == 0, 10)  # processed and deleted
    assert depth(sqs, dead) == 0
    assert tries_during_outage <= 2 * 3  # at most two receives, each with its own three attempts


def test_a_redrive_right_after_recovery_while_the_circuit_is_still_open_is_processed_once(
    connectfi, quick_circuit_stack
):
    # Given a stack whose connectFi circuit opens at the first failure and stays open 10 s
    api, aws_url, _ = services(quick_circuit_stack)
    sqs, _, dead = queues(aws_url)
    # and a webhook dead-lettered during an earlier outage
    sqs.send_message(QueueUrl=dead, MessageBody=json.dumps(application("completed", "Approved")))
    # and connectFi failing once more, which opens its circuit
    connectfi.reply(STATUS, DOWN)
    other = application("waiting_review")
    other["data"]["applicationId"] = "iapp_otherOne0000000000001"
    assert requests.post(f"{api}/connectfi/webhooks/{TOKEN}", json=other, timeout=10).status_code == 202
    wait_for(lambda: connectfi.requests(STATUS), 10)
    time.sleep(1)

    # When connectFi recovers and the operator redrives at once, the circuit still open
    connectfi.reply(STATUS, application("completed", "Approved"))
    calls_before = len(connectfi.requests(STATUS))
    moved = subprocess.run(
        [sys.executable, "-m", "operations.redrive", "local"],
        cwd=cfn.ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": aws_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "moved 1 message" in moved.stdout

    # Then the redriven webhook waits for the circuit instead of failing back to the dead-letter queue, and is
    # processed once
    assert wait_for(lambda: stored_status(api) == "completed", 60)
    time.sleep(3)
    assert depth(sqs, dead) == 0
    confirmed = [r for r in connectfi.requests(STATUS)[calls_before:] if r.json()["applicationId"] == APPLICATION]
    assert len(confirmed) == 1
