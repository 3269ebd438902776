"""The watchdog that ends a provider's answer at its deadline: what it shuts, and when."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from kyc_gateway import clock
from kyc_gateway.watchdog import Watch


@pytest.fixture
def sockets():
    """A connected pair: the gateway's end (watched) and the provider's."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def waited_for_eof(sock: socket.socket) -> float:
    """Seconds until a read on `sock` ends with the end of the stream (no byte is ever sent on it)."""
    started = time.monotonic()
    assert sock.recv(1) == b""
    return time.monotonic() - started


def test_a_watched_answer_is_shut_when_its_deadline_passes(sockets):
    # Given an answer awaited on a socket, watched with a deadline 0.2 s away
    ours, _ = sockets
    with Watch(clock.monotonic() + 0.2) as watch:
        watch.attach(ours)

        # When nothing comes, Then the read ends at the deadline, the answer cut off
        assert 0.15 < waited_for_eof(ours) < 1.0
    assert watch.cut_off


def test_an_earlier_deadline_armed_after_a_later_one_is_kept(sockets):
    # Given a watch with a deadline 30 s away in force (another request's, on another thread)
    ours, _ = sockets
    with Watch(clock.monotonic() + 30):
        time.sleep(0.05)  # the watchdog now waits for it

        # When a second watch, its deadline 0.2 s away, watches an answer that never comes
        with Watch(clock.monotonic() + 0.2) as watch:
            watch.attach(ours)

            # Then the watchdog wakes for the earlier deadline
            assert waited_for_eof(ours) < 1.0 and watch.cut_off


def test_a_socket_attached_after_its_deadline_passed_is_shut_at_once(sockets):
    # Given a watch whose deadline passed while its request was being sent
    ours, _ = sockets
    with Watch(clock.monotonic() + 0.05) as watch:
        time.sleep(0.3)
        assert not watch.cut_off  # nothing to cut yet: no answer is awaited

        # When the answer is about to be read, Then the read ends at once
        watch.attach(ours)
        assert waited_for_eof(ours) < 0.1 and watch.cut_off


def test_a_watch_over_before_its_deadline_cuts_nothing(sockets):
    # Given an answer read, its watch over 0.1 s before the deadline
    ours, theirs = sockets
    with Watch(clock.monotonic() + 0.1) as watch:
        watch.attach(ours)

    # When the deadline has passed, Then the socket still carries what the provider sends
    time.sleep(0.3)
    theirs.sendall(b"x")
    assert ours.recv(1) == b"x" and not watch.cut_off


FORKED = """
import os, socket, sys, time
from kyc_gateway import clock
from kyc_gateway.watchdog import Watch

with Watch(clock.monotonic() + 30):  # the watchdog thread started, waiting; then the process forks
    child = os.fork()
if child:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
ours, theirs = socket.socketpair()
ours.settimeout(5)
with Watch(clock.monotonic() + 0.2) as watch:
    watch.attach(ours)
    try:
        ours.recv(1)
    except TimeoutError:
        os._exit(3)  # no watchdog in the child: nothing ended the read
os._exit(0 if watch.cut_off else 4)
"""


def test_a_forked_child_has_a_watchdog_of_its_own():
    # Given a process whose watchdog thread runs, When it forks, Then a watch in the child still ends its answer
    completed = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKED],
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert completed.returncode == 0, completed.stderr
