"""How a long-running local process (the local stack, the provider sandbox) waits for the signal that stops it.

SIGINT and SIGTERM are blocked in every thread before any thread starts, and the main thread takes them with
`signal.sigwait`. No Python handler runs: a handler setting a `threading.Event` takes the event's lock, which its own
thread may hold inside `Event.wait` at that instant, and the process then never stops. SIGUSR1 writes every thread's
stack to stderr: what a stop that hangs answers when asked.
"""

from __future__ import annotations

import faulthandler
import signal

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
REPORT_SIGNAL = signal.SIGUSR1


def hold_stop_signals() -> None:
    """From now on a stop signal waits for `wait_for_stop`, in this thread and every thread it starts."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for stop in STOP_SIGNALS:  # one a shell ignored for a background job: POSIX may discard it, held or not
        signal.signal(stop, signal.SIG_DFL)
    faulthandler.register(REPORT_SIGNAL, all_threads=True)


def wait_for_stop() -> signal.Signals:
    """Until SIGINT or SIGTERM (at once, if one came while held); which one came."""
    return signal.Signals(signal.sigwait(STOP_SIGNALS))
