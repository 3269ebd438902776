"""A scriptable provider double: a real HTTP server on 127.0.0.1 whose answers each test sets.

Each route has a queue of replies consumed in order; the last one keeps answering. Every request is recorded.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"  # None: no Content-Type header
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False  # drop the connection (TCP RST) once the request is read, instead of answering
    cut: bool = False  # send the headers and half the body, then close: the answer breaks off mid-body
    drip: float = 0.0  # send the headers at once, then the body a byte at a time, this many seconds apart
    drip_head: bool = False  # with `drip`: the status line and headers a byte at a time too
    chunked: bool = False  # the body in Transfer-Encoding: chunked (with `drip`, its size line dripped too)


NO_ROUTE = Reply(404, b'{"message": "no such route in the fake"}')


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header's value, its name matched as HTTP matches it (case-insensitively)."""
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


@dataclass
class _Route:
    replies: list[Reply] = field(default_factory=list)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakeProvider:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: serve HTTPS with this server context, else plain HTTP."""
        self._routes: dict[tuple[str, str], _Route] = {}
        self._requests: list[RecordedRequest] = []
        self.fallback = NO_ROUTE  # what an unscripted route answers
        self.wait = time.sleep  # how a reply's delay is taken (a test may take it on the gateway's stopped clock)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget every scripted answer and recorded request: the next test starts from nothing."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()
            self.fallback = NO_ROUTE
            self.wait = time.sleep

    def reply(
        self,
        path: str,
        *replies: Reply | dict | list,
        status: int = 200,
        method: str = "POST",
    ) -> None:
        """Queue answers for `method path`: Reply objects, or JSON values answered with `status`."""
        queue = [r if isinstance(r, Reply) else Reply(status=status, body=json.dumps(r).encode()) for r in replies]
        with self._lock:
            self._routes[(method, path)] = _Route(queue)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self._requests if path is None or request.path == path]

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body))
            route = self._routes.get((method, path))
            return route.next_reply() if route else self.fallback

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

            def do_POST(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def do_CONNECT(self) -> None:  # as a proxy asked for a tunnel: answered as scripted, never opened
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = provider._answer(self.command, self.path, dict(self.headers.items()), body)
                if reply.delay:
                    provider.wait(reply.delay)
                if reply.reset:
                    # SO_LINGER 0: close() sends a TCP RST, as a crashing provider or a load balancer would.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                try:
                    self.send_response(reply.status)
                    if reply.content_type is not None:
                        self.send_header("Content-Type", reply.content_type)
                    if reply.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    body = _chunked(reply.body) if reply.chunked else reply.body
                    if reply.drip:
                        head = b"".join(self._headers_buffer) + b"\r\n"
                        self._headers_buffer = []
                        if not reply.drip_head:
                            self.wfile.write(head)
                            self.wfile.flush()
                        self._drip(head + body if reply.drip_head else body, reply.drip)
                        return
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if reply.cut else body)
                    if reply.cut:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _drip(self, data: bytes, pause: float) -> None:
                for byte in data:
                    time.sleep(pause)  # real time: the client's own clock measures it
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _chunked(body: bytes) -> bytes:
    """`body` in HTTP/1.1 chunked transfer coding, in two chunks, the first's size line with 40 leading zeros (the
    coding allows them): an answer much of it size line, which a reader reads whole before the chunk it announces."""
    half = len(body) // 2
    first, second = body[:half], body[half:]
    return b"0" * 40 + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(first), first, len(second), second)
