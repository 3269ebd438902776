"""The local stack's scheduler, as EventBridge runs a `rate(...)` schedule: one run every period, at a fixed rate."""

from __future__ import annotations

import itertools
import threading
import time

from local.scheduler import Scheduler
from project import template as cfn


def test_runs_start_at_a_fixed_rate_whatever_each_run_takes():
    # Given a function scheduled every 0.3 s whose runs take 0.25 s each
    starts: list[float] = []
    done = threading.Event()

    def invoke(function, event):
        starts.append(time.monotonic())
        if len(starts) == 5:
            done.set()
        time.sleep(0.25)

    function = next(spec for spec in cfn.functions().values() if "Schedule" in str(spec.properties.get("Events")))
    scheduler = Scheduler(function, 0.3, invoke).start()

    # When five runs have started
    try:
        assert done.wait(10)
    finally:
        scheduler.stop()

    # Then they started 0.3 s apart (1.2 s for four periods), not 0.3 s after each run ended (2.2 s)
    assert starts[-1] - starts[0] < 1.7, [round(later - starts[0], 2) for later in starts]


def test_a_run_longer_than_the_period_is_followed_by_one_run_at_once_not_a_burst():
    # Given runs every 0.1 s, the first of which takes 0.5 s (five periods)
    starts: list[float] = []

    def invoke(function, event):
        starts.append(time.monotonic())
        time.sleep(0.5 if len(starts) == 1 else 0)

    function = next(spec for spec in cfn.functions().values() if "Schedule" in str(spec.properties.get("Events")))
    scheduler = Scheduler(function, 0.1, invoke).start()
    time.sleep(1.0)
    scheduler.stop()

    # Then the second run started as the first ended, and the next ones a period apart again: no catching up
    assert 0.45 < starts[1] - starts[0] < 0.7
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts[1:])]
    assert gaps and min(gaps) > 0.05, gaps
