"""The local stack's ports: a helper's taken default port is replaced by a free one, a chosen port is not, and a
taken API port is an error naming it that leaves another stack's state file alone."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys

import pytest
import requests

from local.atomic_emulator import MotoServer
from local.stack import PortUnavailable, StackConfig, _on_port
from local.state import remove_state_if_ours, write_state
from project import template as cfn


def starter(taken: set[int]):
    started = []

    def start(port: int) -> int:
        if port in taken:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        started.append(port)
        return port

    return start, started


def test_a_taken_default_port_falls_back_to_a_free_one(capsys):
    start, started = starter({4010})

    assert _on_port(start, 4010, "SANDBOX_PORT", StackConfig()) == 0
    assert started == [0]
    assert "port 4010 is taken" in capsys.readouterr().err


def test_a_port_the_user_chose_is_never_replaced():
    start, _ = starter({4010})
    config = StackConfig.from_environment({"SANDBOX_PORT": "4010"})

    with pytest.raises(PortUnavailable, match=r"port 4010 \(SANDBOX_PORT\) is already in use"):
        _on_port(start, config.sandbox_port, "SANDBOX_PORT", config)


def test_the_api_port_never_falls_back_even_as_a_default():
    start, started = starter({3000})

    with pytest.raises(PortUnavailable, match=r"port 3000 \(API_PORT\) is already in use"):
        _on_port(start, 3000, "API_PORT", StackConfig())
    assert started == []


def test_a_taken_api_port_stops_the_start_naming_it_and_leaves_another_stacks_state(tmp_path):
    # Given another program listening on the API port, and the state file of another stack (this test's process)
    state = tmp_path / "stack.json"
    state.write_text(json.dumps({"pid": os.getpid(), "api": "http://127.0.0.1:1"}))
    written = state.read_text()
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]

        # When `make run` starts on that port
        result = subprocess.run(
            [sys.executable, "-m", "local.stack"],
            cwd=cfn.ROOT,
            env={**os.environ, "API_PORT": str(port), "LOCAL_STACK_STATE": str(state)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # Then it fails at once, saying which port and how to choose another, and the state file is not its to remove
    assert result.returncode == 1
    assert (
        f"local stack could not start: port {port} (API_PORT) is already in use; stop what holds it, or set API_PORT "
        "to a free port"
    ) in result.stderr
    assert "ready at" not in result.stdout
    assert state.read_text() == written


def test_only_the_process_that_wrote_the_state_file_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_STACK_STATE", str(tmp_path / "stack.json"))
    # Given a state file this process wrote, Then it removes it
    write_state({"api": "http://127.0.0.1:3000"})
    assert json.loads((tmp_path / "stack.json").read_text())["pid"] == os.getpid()
    remove_state_if_ours()
    assert not (tmp_path / "stack.json").exists()

    # Given one another process wrote (its pid), Then it stays
    (tmp_path / "stack.json").write_text(json.dumps({"pid": os.getppid(), "api": "http://127.0.0.1:3000"}))
    remove_state_if_ours()
    assert (tmp_path / "stack.json").exists()


def test_a_taken_aws_emulator_port_falls_back_with_a_real_listener(capsys):
    # Given another program listening on the emulator's default port
    with socket.create_server(("127.0.0.1", 0)) as other:
        taken = other.getsockname()[1]

        # When the stack starts its AWS emulator there
        server = _on_port(lambda port: MotoServer("127.0.0.1", port), taken, "AWS_EMULATOR_PORT", StackConfig())

        # Then it runs on a free port instead, and says so
        try:
            server.start()
            assert server.url != f"http://127.0.0.1:{taken}"
            assert requests.get(server.url + "/moto-api/", timeout=5).status_code == 200
        finally:
            server.stop()
    assert f"port {taken} is taken" in capsys.readouterr().err


def test_a_chosen_aws_emulator_port_that_is_taken_is_an_error_not_an_exit():
    with socket.create_server(("127.0.0.1", 0)) as other:
        taken = other.getsockname()[1]
        config = StackConfig.from_environment({"AWS_EMULATOR_PORT": str(taken)})

        with pytest.raises(PortUnavailable, match=rf"port {taken} \(AWS_EMULATOR_PORT\) is already in use"):
            _on_port(lambda port: MotoServer("127.0.0.1", port), config.aws_port, "AWS_EMULATOR_PORT", config)


def test_the_stack_binds_loopback_unless_told_otherwise():
    # Given no setting, Then only this machine reaches the stack; Given LOCAL_BIND_HOST, Then that address
    assert StackConfig.from_environment({}).host == "127.0.0.1"
    assert StackConfig.from_environment({"LOCAL_BIND_HOST": "172.17.0.1"}).host == "172.17.0.1"
