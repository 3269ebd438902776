"""Ends a provider's answer at its budget's end, however slowly the provider sends it.

requests' read timeout bounds each read from the socket, not the answer: a provider sending its status line, its
headers, a chunked body's size lines or a compressed body a byte at a time keeps every read within it, and could hold
the request past its budget and the function's own deadline. While an answer is awaited or read, its socket is
watched: one thread per process shuts the socket down when the deadline passes, which ends the read in progress at
once (an end of stream, or an error), and the caller, seeing its watch cut the answer off, knows it for a timeout.

A thread, not SIGALRM (a signal reaches only the main thread; the local stack serves requests on others). One
thread for the process, not a threading.Timer per call (a new thread each time): arming and disarming a watch take a
lock, and the thread wakes only for an earlier deadline or one that has passed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from kyc_gateway import clock


class Watch:
    """One attempt's answer, to end by `deadline` (clock.monotonic()). `cut_off`: the watchdog ended it, after the
    request was sent (a watch whose deadline passes while connecting cuts off nothing: the connect timeout ends it)."""

    __slots__ = ("cut_off", "deadline", "expired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.expired = False
        self.cut_off = False

    def __enter__(self) -> Watch:
        _current.watch = self
        _watchdog.arm(self)
        return self

    def __exit__(self, *_: object) -> None:
        _current.watch = None
        _watchdog.disarm(self)

    def attach(self, sock: socket.socket) -> None:
        """The request is sent, and its answer is about to be read from `sock`."""
        _watchdog.attach(self, sock)


class _Current(threading.local):
    watch: Watch | None = None  # the attempt in flight on this thread


_current = _Current()


def _cut(watch: Watch) -> None:
    """Shut the watched socket down. socket.socket's own shutdown, not an SSLSocket's, which would also drop its TLS
    state under a read in progress on another thread."""
    if watch.sock is not None:
        watch.cut_off = True
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(watch.sock, socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watches: set[Watch] = set()
        # When the thread wakes, in real time (time.monotonic()): a test's clock may stand still or run elsewhere
        # (None: it waits for a first watch).
        self._wakes_at: float | None = None
        self._thread: threading.Thread | None = None

    def arm(self, watch: Watch) -> None:
        with self._changed:
            self._watches.add(watch)
            if self._thread is None:  # started with the first call, so never part of a SnapStart snapshot
                self._thread = threading.Thread(target=self._run, name="provider-deadline-watchdog", daemon=True)
                self._thread.start()
            if self._wakes_at is None or watch.deadline - clock.monotonic() < self._wakes_at - time.monotonic():
                self._changed.notify()  # to wait for this earlier deadline instead

    def disarm(self, watch: Watch) -> None:
        with self._changed:
            self._watches.discard(watch)

    def attach(self, watch: Watch, sock: socket.socket) -> None:
        with self._changed:
            watch.sock = sock
            if watch.expired:  # the deadline passed while the request was being sent
                _cut(watch)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = clock.monotonic()
                for watch in [watch for watch in self._watches if watch.deadline <= now]:
                    self._watches.discard(watch)
                    watch.expired = True
                    _cut(watch)
                first = min((watch.deadline for watch in self._watches), default=None)
                wait = None if first is None else first - now
                self._wakes_at = None if wait is None else time.monotonic() + wait
                self._changed.wait(wait)


_watchdog = _Watchdog()


class _WatchedConnection(HTTPConnection):
    def getresponse(self) -> Any:
        watch = _current.watch
        if watch is not None and self.sock is not None:
            watch.attach(self.sock)
        return super().getresponse()


class _WatchedTlsConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedTlsConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, its connections' answers watched while a Watch is in force on the calling thread."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTlsPool}
