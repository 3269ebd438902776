"""The gateway's clock: a request's deadline is the Lambda's remaining time less the margin kept to answer."""

from __future__ import annotations

import time

import pytest

from kyc_gateway import clock


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def stopped(monkeypatch):
    monkeypatch.setattr(clock, "monotonic", lambda: 1000.0)
    yield
    clock._request.deadline = None


@pytest.mark.parametrize(("remaining_ms", "left"), [(30_000, 28.5), (10_000, 8.5), (1_500, 0.0)])
def test_a_requests_deadline_is_the_lambdas_remaining_time_less_the_answer_margin(stopped, remaining_ms, left):
    clock.start_request(Context(remaining_ms))

    assert clock.time_left() == pytest.approx(left, abs=1e-9)
    assert clock.ANSWER_MARGIN_SECONDS == 1.5


def test_outside_a_lambda_request_there_is_no_deadline(stopped):
    clock.start_request(object())

    assert clock.time_left() is None


def test_sleeping_waits_on_the_real_clock():
    started = time.monotonic()

    clock.sleep(0.01)

    assert time.monotonic() - started >= 0.01
