"""The local stack's helper ports: a taken default port is replaced by a free one, a chosen port is not."""

from __future__ import annotations

import socket

import pytest
import requests

from local.atomic_emulator import MotoServer
from local.stack import StackConfig, _on_port


def starter(taken: set[int]):
    started = []

    def start(port: int) -> int:
        if port in taken:
            raise OSError("address already in use")
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

    with pytest.raises(OSError):
        _on_port(start, config.sandbox_port, "SANDBOX_PORT", config)


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
        config = StackConfig.from_environment({"AWS_EMULATOR_PORT": str(other.getsockname()[1])})

        with pytest.raises(OSError):
            _on_port(lambda port: MotoServer("127.0.0.1", port), config.aws_port, "AWS_EMULATOR_PORT", config)


def test_the_stack_binds_loopback_unless_told_otherwise():
    # Given no setting, Then only this machine reaches the stack; Given LOCAL_BIND_HOST, Then that address
    assert StackConfig.from_environment({}).host == "127.0.0.1"
    assert StackConfig.from_environment({"LOCAL_BIND_HOST": "172.17.0.1"}).host == "172.17.0.1"
