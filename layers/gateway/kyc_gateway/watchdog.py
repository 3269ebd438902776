"""Ends a provider's answer at its budget's end, however slowly the provider sends it.

requests' read timeout bounds each read from the socket, not the answer: a provider sending its status line, its
headers, a chunked body's size lines or a compressed body a byte at a time keeps every read within it, and could hold
the request past its budget and the function's own deadline. While an answer is awaited or read, its socket is
watched: one thread per process shuts the socket down when the deadline passes, which ends the read in progress at
once (an end of stream, or an error), and the caller, seeing its watch cut the answer off, knows it for a timeout.

A request whose deadline passes before it is sent (a slow DNS lookup, connect or TLS handshake) is not sent: it is
refused as a connect timeout, so a write's outcome stays known.

A thread, not SIGALRM (a signal reaches only the main thread; the local stack serves requests on others). One
thread for the process, not a threading.Timer per call (a new thread each time): arming and disarming a watch take a
lock, and the thread wakes only for an earlier deadline or one that has passed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.poolmanager import ProxyManager

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
        _watchdog.arm(self)
        _current.watch = self
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
    """Shut the watched socket down: socket.socket's own shutdown, not an SSLSocket's, which would also drop its TLS
    state under a read in progress on another thread (through a TLS proxy's tunnel, the socket under the tunnel's)."""
    if watch.sock is not None:
        watch.cut_off = True
        sock = watch.sock
        while not isinstance(sock, socket.socket):  # urllib3's SSLTransport, TLS inside a proxy's TLS
            sock = sock.socket
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No watch, no thread (also in a forked child: the thread is not there, its lock may have been held)."""
        self._changed = threading.Condition()
        self._watches: set[Watch] = set()
        # When the thread wakes, in real time (time.monotonic()): a test's clock may stand still or run elsewhere
        # (None: it waits for a first watch).
        self._wakes_at: float | None = None
        self._thread: threading.Thread | None = None

    def arm(self, watch: Watch) -> None:
        with self._changed:
            self._watches.add(watch)
            if self._thread is None:  # started by the first call, so never part of a SnapStart snapshot
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

    def detach(self, watch: Watch) -> bool:
        """The answer is read whole: its connection goes back to its pool, never to be cut by this watch (another
        call may take it at once). False when the watch cut it already: then it must not be pooled."""
        with self._changed:
            watch.sock = None
            return not watch.cut_off

    def _run(self) -> None:
        with self._changed:
            while True:
                now = clock.monotonic()
                for watch in [watch for watch in self._watches if watch.deadline <= now]:
                    self._watches.discard(watch)
                    watch.expired = True
                    try:
                        _cut(watch)
                    except Exception:  # a socket of a kind not foreseen: the watchdog must live on for the others
                        logging.getLogger(__name__).exception("provider answer not cut at its deadline")
                first = min((watch.deadline for watch in self._watches), default=None)
                wait = None if first is None else first - now
                self._wakes_at = None if wait is None else time.monotonic() + wait
                self._changed.wait(wait)


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.reset)


class _WatchedConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        watch = _current.watch
        if watch is not None and watch.deadline <= clock.monotonic():
            self.close()
            raise ConnectTimeoutError(self, "the call's deadline passed before its request was sent")

    def getresponse(self) -> Any:
        watch = _current.watch
        if watch is not None and self.sock is not None:
            watch.attach(self.sock)
        return super().getresponse()


class _WatchedTlsConnection(_WatchedConnection, HTTPSConnection):
    pass


class _ReleasedWhole(HTTPConnectionPool):
    """A pool whose connections, back from an answer read whole, are no longer watched by that answer's watch."""

    def _put_conn(self, conn: Any) -> None:
        watch = _current.watch
        attached = watch is not None and conn is not None and conn.sock is not None and watch.sock is conn.sock
        if attached and not _watchdog.detach(watch):
            conn.close()  # cut at the deadline as its answer ended: never to serve another call
        super()._put_conn(conn)


class _WatchedPool(_ReleasedWhole):
    ConnectionCls = _WatchedConnection


class _WatchedTlsPool(_ReleasedWhole, HTTPSConnectionPool):
    ConnectionCls = _WatchedTlsConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedTlsPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, its connections' answers watched while a Watch is in force on the calling thread: direct,
    or through an HTTP(S) proxy named in the environment (requests reads HTTPS_PROXY and the like)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # SOCKS would need PySocks, which the layer does not ship
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
