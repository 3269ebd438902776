"""The local stack's background threads (local/background.py): a poller keeps polling whatever a poll does, waits
between empty polls, and stops when asked, its thread named for what it feeds."""

from __future__ import annotations

import threading
import time

from local.background import Poller
from project import template as cfn

FUNCTION = next(iter(cfn.functions().values()))


class ScriptedPoller(Poller):
    kind = "scripted"
    POLL_FAILURE_SECONDS = 0.05

    def __init__(self, answers: list[int | Exception], idle_seconds: float) -> None:
        super().__init__(FUNCTION, lambda *_: None, idle_seconds=idle_seconds)
        self.answers = answers
        self.polls: list[float] = []
        self.done = threading.Event()

    def poll_once(self) -> int:
        self.polls.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else 0
        if not self.answers:
            self.done.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_failing_poll_is_followed_by_the_next_one_after_a_pause_and_batches_follow_each_other_at_once():
    # Given a source whose first poll fails, then holds two batches
    poller = ScriptedPoller([RuntimeError("emulator refused"), 3, 2, 0], idle_seconds=60).start()

    # When it runs until the source is empty
    assert poller.done.wait(timeout=10)
    poller.stop()

    # Then it polled on after the failure (after its pause), and asked for a batch at once after each full one
    first, second, third, fourth = poller.polls[:4]
    assert second - first >= ScriptedPoller.POLL_FAILURE_SECONDS
    assert third - second < 1 and fourth - third < 1


def test_empty_polls_are_spaced_by_the_idle_wait_and_stop_ends_the_thread_it_named():
    # Given a poller of an empty source, polling every 0.1 s
    poller = ScriptedPoller([], idle_seconds=0.1).start()
    (thread,) = [thread for thread in threading.enumerate() if thread.name == f"scripted-{FUNCTION.logical_id}"]

    # When it has run half a second, then is stopped
    time.sleep(0.5)
    poller.stop()
    polled = len(poller.polls)

    # Then it polled a handful of times, not in a busy loop, and polls no more
    assert 2 <= polled <= 7
    assert not thread.is_alive()
    time.sleep(0.2)
    assert len(poller.polls) == polled
