"""Operations on the running local stack: reconciliation on its schedule, and `make redrive` of dead letters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import boto3
import requests

from project import template as cfn
from tests.support.waiting import wait_for

TOKEN = json.loads((cfn.ROOT / "local" / "secrets.local.json").read_text())["connectfiwebhook"]["token"]


def services(stack: dict) -> tuple[str, str, str]:
    """(api, aws emulator, sandbox) URLs of a running stack, from its ready line."""
    aws_url, sandbox_url = re.findall(r"http://127\.0\.0\.1:\d+", stack["ready"])[1:3]
    return stack["api"], aws_url, sandbox_url


def test_an_application_whose_webhook_is_lost_reaches_its_final_state_by_reconciliation(reconciling_stack):
    api, _, sandbox_url = services(reconciling_stack)
    # Given an application under review whose completion webhook never comes
    started = requests.post(
        f"{api}/connectfi/identification", json={"customerId": "cstap_e2eLost1", "reference": "ASYNCLOST7"}, timeout=30
    )
    application_id = started.json()["data"]["applicationId"]

    # When the scheduled reconciliation runs, then the stored state becomes the final one
    def final():
        state = requests.get(f"{api}/connectfi/applications/{application_id}", timeout=10).json()
        return state if state.get("status") == "completed" else None

    state = wait_for(final)
    assert state["outcome"] == "Approved"
    assert requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"].get("webhook", 0) == 0


def test_make_redrive_gets_a_dead_lettered_webhook_processed_once(quick_retry_stack):
    api, aws_url, sandbox_url = services(quick_retry_stack)
    # Given a webhook whose confirmation keeps failing until it is dead-lettered (5 receives, 3 attempts each)
    started = requests.post(
        f"{api}/connectfi/identification", json={"customerId": "cstap_e2eRedrive1", "reference": "redrive1"}, timeout=30
    ).json()["data"]
    fault = {"provider": "connectfi", "operation": "status", "fault": "status", "status": 500, "times": 15}
    assert requests.post(f"{sandbox_url}/_sandbox/faults", json=fault, timeout=10).status_code == 200
    webhook = {"code": "0", "data": {"applicationId": started["applicationId"], "customerId": "cstap_e2eRedrive1"}}
    assert requests.post(f"{api}/connectfi/webhooks/{TOKEN}", json=webhook, timeout=10).status_code == 202
    sqs = boto3.client(
        "sqs", endpoint_url=aws_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    dlq = sqs.get_queue_url(QueueName="kyc-gateway-local-connectfi-webhooks-dlq")["QueueUrl"]

    def dead_lettered():
        attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 1

    wait_for(dead_lettered, 60)
    status_calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"]["status"]

    # When connectFi has recovered (the faults are used up) and the operator runs make redrive, with nothing but
    # AWS_ENDPOINT_URL set (the venv is taken as it is: this suite runs in it)
    environment = {name: value for name, value in os.environ.items() if name != "ENV"}
    moved = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "redrive"],  # noqa: S607 - the user's make
        cwd=cfn.ROOT,
        env={**environment, "AWS_ENDPOINT_URL": aws_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # Then the webhook is processed, once, and the dead-letter queue is empty
    assert "moved 1 message" in moved.stdout
    wait_for(
        lambda: requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"]["status"] > status_calls,
        what="the redriven webhook's status call",
    )
    time.sleep(2)
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"]["status"]
    assert calls == status_calls + 1
    assert not dead_lettered()


def test_the_smoke_test_passes_on_a_healthy_stack_asking_each_provider_only_its_read(sandbox_stack):
    api, _, sandbox_url = services(sandbox_stack)
    # Given the running local stack, When `make smoke ENV=local` runs (it finds the stack through its state file)
    result = subprocess.run(
        [sys.executable, "-m", "operations.smoke", "local"],
        cwd=cfn.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then every route answered its refusal and each provider's read succeeded (smoke.toml's [local] identifiers)
    assert result.returncode == 0, result.stdout + result.stderr
    routes = sum(len(spec.api_events) for spec in cfn.functions().values())
    assert result.stdout.count("ok  ") == routes + 3 and f"smoke test of {api}: passed" in result.stdout
    # And no provider was asked anything but a login and its read
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()
    reads = {"cladfy": {"krapin": 1}, "cdp": {"token": 1, "lookup": 1}, "connectfi": {"token": 1, "status": 1}}
    assert {provider: made for provider, made in calls.items() if made} == reads
