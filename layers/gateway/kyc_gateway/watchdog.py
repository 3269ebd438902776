"""Ends a provider's answer at its budget's end, however slowly the provider sends it.

requests' read timeout bounds each read from the socket, not the answer: a provider sending its status line, its
headers, a chunked body's size lines or a compressed body a byte at a time keeps every read within it, and could hold
the request past its budget and the function's own deadline. While an answer is awaited or read, its socket is
watched: one thread per process shuts the socket down when the deadline passes, which ends the read in progress at
once (an end of stream, or an error), and the caller, seeing its watch cut the answer off, knows it for a timeout.

A request whose deadline passes before it is sent (a slow DNS lookup, connect or TLS handshake) is not sent: it is
refused as a connect timeout, so a write's outcome stays known. A DNS lookup is waited for until the deadline only.

A thread, not SIGALRM (a signal reaches only the main thread; the local stack serves requests on others). One
thread for the process, not a threading.Timer per call (a new thread each time): arming and disarming a watch take a
lock, and the thread wakes only for an earlier deadline or one that has passed.
"""

from __future__ import annotations

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
from kyc_gateway.observability import logger


class Watch:
    """One attempt's answer, to end by `deadline` (clock.monotonic()). `cut_off`: the watchdog ended it, after the
    request was sent (a watch whose deadline passes while connecting cuts off nothing: the connect timeout ends it)."""

    sent = False  # a byte of the request may have gone out (a proxy's CONNECT is not the request)
    sock: socket.socket | None = None  # the answer's, once the request is sent
    expired = False  # the deadline has passed
    cut_off = False

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._watchdog = _watchdog()

    def __enter__(self) -> Watch:
        self._watchdog.arm(self)
        _current.watch = self
        return self

    def __exit__(self, *_: object) -> None:
        _current.watch = None
        self._watchdog.disarm(self)

    def attach(self, sock: socket.socket) -> None:
        """The request is sent, and its answer is about to be read from `sock`."""
        self._watchdog.attach(self, sock)

    def release(self) -> bool:
        """The answer is over: nothing is cut from now on. False when it was cut before."""
        return self._watchdog.detach(self)


class _Current(threading.local):
    watch: Watch | None = None  # the attempt in flight on this thread


_current = _Current()


def _cut(watch: Watch) -> None:
    """Shut the watched socket down: socket.socket's own shutdown, not an SSLSocket's, which would also drop its TLS
    state under a read in progress on another thread (through a TLS proxy's tunnel, the socket under the tunnel's).
    A socket already closed has nothing left to cut: its answer is over, read whole or failed."""
    sock = watch.sock
    if sock is None:
        return
    while not isinstance(sock, socket.socket):  # urllib3's SSLTransport, TLS inside a proxy's TLS
        sock = sock.socket
    watch.cut_off = True  # before the shutdown: the reader may see its end of stream at once
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # closed: nothing was cut
        watch.cut_off = False


class _Watchdog:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watches: set[Watch] = set()
        # When the thread wakes, in real time (time.monotonic()): a test's clock may stand still or run elsewhere
        # (None: it waits for a first watch).
        self._wakes_at: float | None = None
        self._started = False

    def arm(self, watch: Watch) -> None:
        with self._changed:
            self._watches.add(watch)
            if not self._started:
                threading.Thread(target=self._run, name="provider-deadline-watchdog", daemon=True).start()
                self._started = True
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
        """The answer is over (or read whole, its connection going back to its pool, where another call may take it
        at once): never to be cut by this watch. False when the watch cut it already."""
        with self._changed:
            watch.sock = None
            return not watch.cut_off

    def _run(self) -> None:
        with self._changed:
            while True:
                self._changed.wait(self._expire_due())

    def _expire_due(self) -> float | None:
        """Cut the answers whose deadline has passed; the seconds until the next deadline (None: no watch left).
        Called with the lock held, at each wake."""
        now = clock.monotonic()
        for watch in [watch for watch in self._watches if watch.deadline <= now]:
            self._watches.discard(watch)
            watch.expired = True
            try:
                _cut(watch)
            except Exception as error:  # noqa: BLE001 - a socket of a kind not foreseen: the watchdog must live on
                logger.error("provider answer not cut at its deadline", error=type(error).__name__)
        first = min((watch.deadline for watch in self._watches), default=None)
        wait = None if first is None else first - now
        self._wakes_at = None if wait is None else time.monotonic() + wait
        return wait


_by_process: dict[int, _Watchdog] = {}


def _watchdog() -> _Watchdog:
    """This process's watchdog, made by its first provider call (so never part of a SnapStart snapshot); a forked
    child makes its own (its parent's thread is not there, and its lock may have been held at the fork)."""
    process = os.getpid()
    watchdog = _by_process.get(process)
    if watchdog is None:  # threads racing here each make one; one is kept (setdefault is atomic), never the others
        watchdog = _by_process.setdefault(process, _Watchdog())
    return watchdog


class _DeadlinePassed(ConnectTimeoutError):
    """The call's deadline passed before its request was sent (urllib3 and requests tell it by its kind)."""


class _WatchedConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        watch = _current.watch
        if watch is not None:
            _look_up_by(self._dns_host, self.port, watch.deadline)
        return super()._new_conn()

    def connect(self) -> None:
        """Nothing of the request is sent yet: a deadline passed meanwhile is a connect timeout, a write's outcome
        known. (Not closed here: urllib3 closes it, and closing it first would make a proxy's connection look never
        made, and the timeout the proxy's failure.)"""
        super().connect()
        watch = _current.watch
        if watch is not None and watch.deadline <= clock.monotonic():
            raise _DeadlinePassed()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self.sock is None:
            self.connect()  # as the request's first send would: what follows it may reach the provider
        watch = _current.watch
        if watch is not None:
            watch.sent = True
        return super().request(*args, **kwargs)

    def getresponse(self) -> Any:
        watch = _current.watch
        if watch is not None and self.sock is not None:
            watch.attach(self.sock)
        return super().getresponse()


def _look_up_by(host: str, port: int | None, deadline: float) -> None:
    """Wait for `host`'s address until `deadline` at the most, and raise _DeadlinePassed past it: getaddrinfo takes no
    timeout, and a resolver's own timeouts and attempts can outlast the function. The lookup runs on a thread of its
    own, left to end by itself; the connection then looks the host up again as urllib3 does (its errors reported as
    urllib3 reports them), which costs a second lookup on a new connection only. An address needs no lookup."""
    if _is_address(host):
        return
    done = threading.Event()

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError:  # the connection's own lookup raises it again
            pass
        finally:
            done.set()

    threading.Thread(target=look_up, name="provider-address-lookup", daemon=True).start()
    if not done.wait(max(0.0, deadline - clock.monotonic())):
        raise _DeadlinePassed()


def _is_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


class _WatchedTlsConnection(_WatchedConnection, HTTPSConnection):
    pass


class _ReleasedWhole(HTTPConnectionPool):
    """A pool whose connections, back from an answer read whole, are no longer watched by that answer's watch."""

    def _put_conn(self, conn: Any) -> None:
        watch = _current.watch
        attached = watch is not None and conn is not None and conn.sock is not None and watch.sock is conn.sock
        if attached and not watch.release():
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
