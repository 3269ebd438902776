"""`make run`'s stack as a user meets it: a subprocess serving HTTP on 127.0.0.1, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from kyc_gateway.settings import Settings
from project import template as cfn
from tests.e2e.conftest import CLADFY_SUCCESS, port_is_free
from tests.support.fake_provider import Reply


def test_the_stack_serves_the_routes_and_stops_cleanly_on_ctrl_c(stack, second_double, state_file):
    api = stack["api"]
    # It says where it is: the address it printed is the one its state file names (`make invoke` finds it there)
    assert json.loads(state_file.read_text())["api"] == api

    # The Signzy route reaches the sandbox (login, token, repush) through the emulated AWS
    repush = requests.post(
        f"{api}/signzy/onboardings/repush",
        json={"onboardingId": "65a1b2c3d4e5f60718293a4b"},
        headers={"X-Correlation-Id": "e2e-1"},
        timeout=30,
    )
    assert repush.status_code == 200, repush.text
    assert repush.json()["extra_field"] == "kept"
    assert repush.headers["X-Correlation-Id"] == "e2e-1"

    # CLADFY_BASE_URL pointed Cladfy at the second double, with the same credentials flow
    krapin = requests.post(f"{api}/cladfy/krapin", json={"pinnumber": "A004416331M"}, timeout=30)
    assert krapin.status_code == 200, krapin.text
    assert krapin.json()["message"] == "from the second double"
    assert second_double.requests("/elsewhere/krapin")[0].headers["Authorization"].startswith("Basic ")

    # Bad input is a 400 with no provider call; unknown routes are API Gateway's 403
    assert requests.post(f"{api}/cladfy/krapin", data="nope", timeout=10).status_code == 400
    assert len(second_double.requests()) == 1
    assert (
        requests.get(f"{api}/nowhere", timeout=10).status_code == 401
    )  # as the deployed API answers a route it does not define

    # Ctrl-C stops everything: the process exits 0, its group is gone and every port is free again
    process = stack["process"]
    os.killpg(process.pid, signal.SIGINT)
    # (a stop slower than 10 s prints every thread's stack, and a failure here shows what the stack printed)
    assert "local stack stopped" in stack["output"].wait_for_end(timeout=20)
    assert process.wait(timeout=5) == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    assert all(port_is_free(port) for port in stack["ports"])
    assert not state_file.exists()  # its own state file goes with it


def test_connectfi_identification_to_completed_state_through_webhooks_and_the_processor(stack):
    import re

    import boto3

    api = stack["api"]
    aws_url, sandbox_url = re.findall(r"http://127\.0\.0\.1:\d+", stack["ready"])[1:3]
    # A caller's webhook URL names the stack's own host or one of CONNECTFI_WEBHOOK_HOSTS, nothing else
    for reference, url, status in (
        ("HOSTS1", "https://collector.example/hook", 400),
        ("HOSTS2", "https://hooks.partner.example/kyc", 200),
        ("HOSTS3", f"{api}/elsewhere", 200),
    ):
        body = {"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": reference, "webhookUrl": url}
        answer = requests.post(f"{api}/connectfi/identification", json=body, timeout=30)
        assert answer.status_code == status, (url, answer.text)
    # Given an identification that completes asynchronously, with the webhook delivered twice
    started = requests.post(
        f"{api}/connectfi/identification",
        json={"customerId": "cstap_5mBHiIx3QbkvEpjGfKsI9k", "reference": "ASYNCDUP001"},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    application_id = started.json()["data"]["applicationId"]

    # When the webhooks flow through the gateway's own URL, the queue and the processor
    deadline = time.monotonic() + 20
    state = {}
    while time.monotonic() < deadline and state.get("status") != "completed":
        time.sleep(0.5)
        state = requests.get(f"{api}/connectfi/applications/{application_id}", timeout=10).json()

    # Then the stored state is completed, and the duplicate delivery cost no second status fetch
    assert (state.get("status"), state.get("outcome")) == ("completed", "Approved")
    time.sleep(2)
    calls = requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"]
    assert calls["webhook"] == 2
    assert calls["status"] == 1

    # A wrong webhook token is refused; a webhook that can never be confirmed ends in the dead-letter queue
    unknown = {"code": "0", "data": {"applicationId": "iapp_unknown", "customerId": "cstap_unknown"}}
    assert requests.post(f"{api}/connectfi/webhooks/not-the-token", json=unknown, timeout=10).status_code == 401
    token = json.loads((cfn.ROOT / "local" / "secrets.local.json").read_text())["connectfiwebhook"]["token"]
    poison = requests.post(f"{api}/connectfi/webhooks/{token}", json=unknown, timeout=10)
    assert poison.status_code == 202
    sqs = boto3.client(
        "sqs", endpoint_url=aws_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    dlq = sqs.get_queue_url(QueueName="kyc-gateway-local-connectfi-webhooks-dlq")["QueueUrl"]
    dead = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not dead:
        dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(message["Body"]) for message in dead] == [unknown]


def make_invoke(function: str, event: str) -> tuple[dict, str]:
    """`make invoke FUNCTION=... EVENT=...` as a user runs it: the handler's answer, and what it said on stderr."""
    result = subprocess.run(  # noqa: S603 - our own module, our own arguments
        [sys.executable, "-m", "local.invoke", function, event],
        cwd=cfn.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout), result.stderr


def test_make_invoke_runs_a_sample_event_against_the_running_stack(stack):
    answer, said = make_invoke("CladfyKraPinFunction", "events/CladfyKraPinFunction.invalid-pin.json")

    assert answer["statusCode"] == 400
    assert "using the running local stack" in said
    assert "throwaway" not in said


def test_make_invoke_without_a_stack_starts_its_own(state_file):
    answer, said = make_invoke("SignzyRepushFunction", "events/SignzyRepushFunction.json")

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["onboardingId"] == "65a1b2c3d4e5f60718293a4b"
    assert "using the running local stack" not in said
    assert f"no running local stack ({state_file}" in said
    assert "starting a throwaway one on free ports" in said


def test_a_second_stack_on_the_running_ones_api_port_fails_naming_it_and_leaves_its_state(stack, state_file):
    # Given a running stack, and the state file it wrote
    api_port = stack["ports"][0]
    written = state_file.read_text()

    # When a second `make run` starts on the same API port (and the same state file)
    second = subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=cfn.ROOT,
        env={**os.environ, "API_PORT": str(api_port), "AWS_EMULATOR_PORT": "0", "SANDBOX_PORT": "0"},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then it fails, naming the port, its variable and the stack holding it
    assert second.returncode == 1
    holder = stack["process"].pid
    assert f"port {api_port} (API_PORT) is already in use by the local stack of process {holder}" in second.stderr
    assert "set API_PORT to a free port" in second.stderr
    # And the running stack keeps its state file, so `make invoke` still finds it and it still serves
    assert state_file.read_text() == written
    assert "using the running local stack" in make_invoke("CladfyKraPinFunction", "events/CladfyKraPinFunction.json")[1]
    assert requests.get(stack["api"] + "/openapi.json", timeout=10).status_code == 200


def test_a_run_of_provider_failures_past_a_lambda_instances_circuit_threshold_does_not_pause_the_stack(
    stack, second_double
):
    # Given Cladfy (the second double) failing more calls in a row than opens a deployed instance's circuit: one
    # process serves every function here, so such a run is a test's or a developer's, not an outage
    lambda_threshold = Settings.model_fields["circuit_failure_threshold"].default
    second_double.reply("/elsewhere/krapin", Reply(503, b'{"status": 503, "message": "down"}'))
    failed = [
        requests.post(f"{stack['api']}/cladfy/krapin", json={"pinnumber": "A004416331M"}, timeout=30)
        for _ in range(lambda_threshold + 1)
    ]

    # When Cladfy answers again
    second_double.reply("/elsewhere/krapin", {**CLADFY_SUCCESS, "request_id": "after-the-run"})
    answer = requests.post(f"{stack['api']}/cladfy/krapin", json={"pinnumber": "A004416331M"}, timeout=30)

    # Then every failure was Cladfy's own, and the next request reaches it: no circuit opened
    assert {(failure.status_code, failure.json()["error"]["code"]) for failure in failed} == {(502, "provider_error")}
    assert answer.status_code == 200, answer.text
