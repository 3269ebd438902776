"""A running local stack (`make run`'s process) for the end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from project import template as cfn
from tests.integration.routes.test_cladfy_krapin import SUCCESS as CLADFY_SUCCESS
from tests.support.fake_provider import FakeProvider
from tests.support.output import Output


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def second_double() -> Iterator[FakeProvider]:
    """Another Cladfy double, where CLADFY_BASE_URL will point."""
    double = FakeProvider().start()
    double.reply("/elsewhere/krapin", {**CLADFY_SUCCESS, "message": "from the second double", "request_id": "second-1"})
    yield double
    double.stop()


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own `.local-stack/stack.json`: e2e tests on other workers run stacks of their own."""
    path = tmp_path / "stack.json"
    monkeypatch.setenv("LOCAL_STACK_STATE", str(path))
    return path


def running_stack(state_file: Path, **overrides: str) -> Iterator[dict]:
    """Start `python -m local.stack` on ports the system picks as it binds them (a port found free beforehand could
    be taken before the stack binds it); yield where it is, from its ready line; kill what is left of it afterwards."""
    environment = {
        **os.environ,
        "API_PORT": "0",
        "AWS_EMULATOR_PORT": "0",
        "SANDBOX_PORT": "0",
        "LOCAL_BIND_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        "LOCAL_STACK_STATE": str(state_file),
        **overrides,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stack"],
        cwd=cfn.ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",  # a stray byte must not stop the reading (the stack would block on a full pipe)
        start_new_session=True,  # its own process group, to find orphans afterwards
    )
    try:
        output = Output(process.stdout)
        ready = output.wait_for("ready at", timeout=60)  # and read on: the functions' logs
        ports = [int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", ready)]
        assert len(ports) == 3, f"the ready line names the API, the AWS emulator and the sandbox: {ready!r}"
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)  # a stack that did not start is not left running
        raise
    api_port, aws_port, sandbox_port = ports
    info = {
        "process": process,
        "api": f"http://127.0.0.1:{api_port}",
        "ports": (api_port, aws_port, sandbox_port),
        "ready": ready,
        "output": output,
    }
    yield info
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def stack(second_double: FakeProvider, state_file: Path) -> Iterator[dict]:
    """The stack with Cladfy pointed at a second double (CLADFY_BASE_URL), and one callback host allowed besides
    its own (CONNECTFI_WEBHOOK_HOSTS)."""
    yield from running_stack(
        state_file, CLADFY_BASE_URL=f"{second_double.url}/elsewhere", CONNECTFI_WEBHOOK_HOSTS="hooks.partner.example"
    )


@pytest.fixture
def sandbox_stack(state_file: Path) -> Iterator[dict]:
    """The stack with every provider on its sandbox (slow answers cut to 2 s)."""
    yield from running_stack(state_file, SANDBOX_SLOW_SECONDS="2")


@pytest.fixture
def quick_retry_stack(state_file: Path) -> Iterator[dict]:
    """The stack with connectFi failures retried after 1 s, doubling (WEBHOOK_RETRY_BASE_SECONDS): a webhook that
    keeps failing is dead-lettered in seconds."""
    yield from running_stack(state_file, WEBHOOK_RETRY_BASE_SECONDS="1")


@pytest.fixture
def reconciling_stack(state_file: Path) -> Iterator[dict]:
    """The stack reconciling every second, with no age threshold (LOCAL_SCHEDULE_SECONDS, RECONCILE_AFTER_SECONDS)."""
    yield from running_stack(state_file, LOCAL_SCHEDULE_SECONDS="1", RECONCILE_AFTER_SECONDS="0")
