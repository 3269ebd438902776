"""How the local stack and the provider sandbox wait to be stopped (local/stopping.py): a stop signal sent at any
moment stops the process cleanly, whichever thread is running, and SIGUSR1 reports every thread's stack."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from project import template as cfn

SERVER = textwrap.dedent(
    """
    import sys, threading, time
    from local.stopping import hold_stop_signals, wait_for_stop

    def serve_requests():
        while True:
            sum(range(1000))  # a busy thread, as a server's are: the kernel may pick it for a process's signal

    hold_stop_signals()
    threading.Thread(target=serve_requests, name="requests", daemon=True).start()
    print("started", flush=True)
    time.sleep(float(sys.argv[1]))  # still starting: a stop now waits for the start to be done
    print("waiting", flush=True)
    print(wait_for_stop().name, flush=True)
    """
)


def _server(starting_seconds: float) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own code, fixed arguments
        [sys.executable, "-c", SERVER, str(starting_seconds)],
        cwd=cfn.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_stop_sent_while_starting_is_kept_and_taken_once_started():
    # Given a process still starting, a busy thread of it running
    process = _server(starting_seconds=1.0)
    assert process.stdout.readline() == "started\n"

    # When SIGTERM comes before it waits for one
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)

    # Then it was not killed by it: the start ran to its end and the wait took the signal at once
    assert process.returncode == 0, err
    assert out.splitlines() == ["waiting", "SIGTERM"]


def test_a_stop_sent_while_waiting_ends_the_wait_whichever_thread_runs():
    # Given a process waiting, a busy thread of it running
    process = _server(starting_seconds=0)
    assert process.stdout.readline() == "started\n"
    assert process.stdout.readline() == "waiting\n"

    # When SIGINT (Ctrl-C) comes
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)

    # Then the wait ends with it, no KeyboardInterrupt raised anywhere
    assert process.returncode == 0, err
    assert out.splitlines() == ["SIGINT"]


def test_sigusr1_reports_every_threads_stack_and_the_process_goes_on():
    # Given a waiting process
    process = _server(starting_seconds=0)
    assert process.stdout.readline() == "started\n"
    assert process.stdout.readline() == "waiting\n"

    # When asked for its threads, then stopped
    process.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, report = process.communicate(timeout=20)

    # Then the report gave both threads' stacks, and the process still stopped cleanly
    assert report.count("(most recent call first)") == 2, report
    assert 'File "<string>"' in report and "in serve_requests" in report, report
    assert process.returncode == 0
    assert out.splitlines() == ["SIGTERM"]
