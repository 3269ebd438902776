"""The local stack's helper ports: a taken default port is replaced by a free one, a chosen port is not."""

from __future__ import annotations

import pytest

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
