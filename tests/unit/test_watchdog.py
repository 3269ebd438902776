"""The watchdog that ends a provider's answer at its deadline: what it shuts, and when."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from kyc_gateway import clock
from kyc_gateway.watchdog import Watch
from tests.support.emf import log_lines

NOT_CUT = "provider answer not cut at its deadline"


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


def test_a_socket_seen_through_a_tunnel_is_shut_underneath(sockets):
    # Given an answer read through TLS inside a proxy's TLS (urllib3's SSLTransport, its socket underneath)
    ours, _ = sockets

    class Tunnel:
        socket = ours

    # When its deadline passes, Then the socket under the tunnel is shut
    with Watch(clock.monotonic() + 0.1) as watch:
        watch.attach(Tunnel())
        assert waited_for_eof(ours) < 1.0 and watch.cut_off


def test_a_watched_socket_closed_meanwhile_is_passed_over_quietly(sockets, logs):
    # Given an answer's socket closed before its deadline (its answer over: read whole, or failed)
    ours, _ = sockets
    with Watch(clock.monotonic() + 0.1) as watch:
        watch.attach(ours)
        ours.close()

        # When the deadline passes, Then there is nothing to cut, and nothing to report
        time.sleep(0.3)
    assert not watch.cut_off and log_lines(logs(), NOT_CUT) == []


def test_a_socket_closed_as_it_is_shut_is_passed_over_quietly(logs):
    # Given a socket closed between the watchdog's look at it and its shutdown (seen open, then gone)
    class ClosedSinceSeen(socket.socket):
        def fileno(self) -> int:
            return 1_000_000  # what the watchdog saw: open

    closing = ClosedSinceSeen()
    closing.close()
    with Watch(clock.monotonic() + 0.1) as watch:
        watch.attach(closing)
        time.sleep(0.3)

    # Then nothing was cut, and its shutdown's error is no failure of the watchdog's
    assert not watch.cut_off and log_lines(logs(), NOT_CUT) == []


def test_a_socket_it_cannot_shut_is_logged_and_the_watchdog_lives_on(sockets, logs):
    # Given an answer read from something the watchdog cannot shut down (no socket, no socket underneath)
    ours, _ = sockets
    with Watch(clock.monotonic() + 0.1) as strange:
        strange.attach(object())
        time.sleep(0.3)

    # Then its failure is logged, as the gateway logs (a JSON line, the error's kind, no traceback)
    (failure,) = log_lines(logs(), NOT_CUT)
    assert (failure["level"], failure["error"]) == ("ERROR", "AttributeError")
    # And When another answer's deadline passes, Then it is cut still
    with Watch(clock.monotonic() + 0.1) as watch:
        watch.attach(ours)
        assert waited_for_eof(ours) < 1.0


def test_a_cut_answer_leaves_the_watchdog_idle_while_its_call_ends(sockets):
    # Given an answer cut at its deadline, its call not yet over
    ours, _ = sockets
    with Watch(clock.monotonic() + 0.05) as watch:
        watch.attach(ours)
        waited_for_eof(ours)

        # When the call takes 0.3 s more to end, Then the watchdog spends next to no CPU meanwhile (no busy loop)
        used = time.process_time()
        time.sleep(0.3)
        assert time.process_time() - used < 0.1


def test_the_watchdog_is_one_named_daemon_thread():
    # Given calls made, When the process looks at its threads, Then the watchdog is one, named for thread dumps,
    # and a daemon: it never keeps a process from exiting
    for _ in range(2):
        with Watch(clock.monotonic() + 30):
            pass
    (watchdog,) = [thread for thread in threading.enumerate() if thread.name == "provider-deadline-watchdog"]
    assert watchdog.daemon


FORKED = """
import os, socket, sys, time
from kyc_gateway import clock
from kyc_gateway.watchdog import Watch
from tests.support.emf import log_lines

NOT_CUT = "provider answer not cut at its deadline"

with Watch(clock.monotonic() + 30):  # the watchdog thread started, waiting; then the process forks
    pass
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
    # Given calls made in this process (its watchdog runs), and a process that forks as its watchdog waits
    with Watch(clock.monotonic() + 30):
        pass

    # When the child watches an answer, Then its watch still ends it (the child's own watchdog)
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKED],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, errors = process.communicate(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the forked child too, were it blocked for good
    assert process.returncode == 0, errors
