"""The sandbox's HTTP server: `ProviderSandbox` (lifecycle, state, dispatch, admin endpoints, webhook delivery,
scheduling) and its request handler. The providers come from the provider registry, in its order."""

from __future__ import annotations

import importlib
import json
import socket
import struct
import threading
import traceback
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kyc_gateway.registry import PROVIDERS, ProviderEntry
from local.listening import ListeningServer
from local.sandbox.common import Handler, Option, Provider, Reply, Request, json_reply, log
from local.sandbox.faults import FaultInjection

MAX_BODY_BYTES = 20 * 1024 * 1024
WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # deliver directly, ignore *_proxy


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server_version = "ProviderSandbox/1.0"
    timeout = 60  # idle keep-alive connections are dropped after this

    def _handle(self) -> None:
        sandbox: ProviderSandbox = self.server.sandbox  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(json_reply(400, {"error": "unreadable request body"}))
            return
        self._send(sandbox.dispatch(Request(self.command, path, self.headers, body)))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        if reply.reset:
            # SO_LINGER 0: close() sends a TCP RST, as a crashing provider or a load balancer cutting us off would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.drip:
                head = b"".join(self._headers_buffer) + b"\r\n"
                self._headers_buffer = []
                self._drip(head + reply.body, reply.drip)
                return
            self.end_headers()
            if reply.cut:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timed out on a slow answer)
            self.close_connection = True

    def _drip(self, data: bytes, pause: float) -> None:
        """`data` a byte every `pause` seconds (cut short when the sandbox stops): each read of the client's is quick,
        the whole answer slow."""
        for byte in data:
            if self.server.sandbox.stops_within(pause):  # type: ignore[attr-defined]
                self.close_connection = True
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def _log(self, outcome: str) -> None:
        """Method, path (no query string) and outcome only: never bodies, headers or tokens."""
        if not self.server.sandbox.quiet:  # type: ignore[attr-defined]
            path = urlsplit(getattr(self, "path", "") or "-").path
            log(f"{getattr(self, 'command', None) or '-'} {path} {outcome}")

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        self._log(str(int(code)) if isinstance(code, int) else str(code))

    def log_error(self, format: str, *args: Any) -> None:
        self._log("protocol error")


class ProviderSandbox(FaultInjection):
    """Stand-in for the providers of the registry on one local port (docs/sandbox.md)."""

    def __init__(
        self,
        credentials: dict,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        slow_seconds: float = 30.0,
        quiet: bool = False,
        **options: Any,
    ) -> None:
        """`options`: the providers' own options (`ProviderSandbox.options()`), each defaulted when not given."""
        missing = [entry.name for entry in PROVIDERS if entry.name not in credentials]
        if missing:
            raise ValueError(f"credentials lack provider sections: {', '.join(missing)}")
        declared = {option.name: option for option in self.options() if option.name not in ("slow_seconds", "quiet")}
        unknown = set(options) - set(declared)
        if unknown:
            raise TypeError(f"unknown sandbox options: {', '.join(sorted(unknown))}")
        values = {name: options.get(name, option.default) for name, option in declared.items()}
        for name, value in values.items():
            if declared[name].choices and value not in declared[name].choices:
                raise ValueError(f"{name} must be one of: {', '.join(declared[name].choices)}")
        self.host, self.port = host, port
        self.slow_seconds = slow_seconds
        self.quiet = quiet
        self.lock = threading.RLock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        self._server: ListeningServer | None = None
        self._thread: threading.Thread | None = None
        self._entries: list[tuple[ProviderEntry, Provider]] = [
            (entry, _provider_class(entry)(self, credentials[entry.name], values)) for entry in PROVIDERS
        ]
        self.providers: list[Provider] = [provider for _, provider in self._entries]
        self._routes: dict[tuple[str, str], tuple[Provider | None, str, Handler]] = {
            ("GET", "/_sandbox/health"): (None, "health", lambda _: json_reply(200, {"status": "ok"})),
            ("GET", "/_sandbox/calls"): (None, "calls", lambda _: json_reply(200, self.calls_by_provider())),
            ("POST", "/_sandbox/forget-tokens"): (None, "forget-tokens", self._admin(self.forget_tokens, "forgotten")),
            ("POST", "/_sandbox/reset"): (None, "reset", self._admin(self.reset, "reset")),
            ("POST", "/_sandbox/faults"): (None, "faults", self._add_fault),
        }
        self._faults: dict[tuple[str, str], list[list[Any]]] = {}
        # Routes ending in a path parameter ("/upload/{documentId}"), by method and the path before it.
        self._parameter_routes: dict[tuple[str, str], tuple[Provider | None, str, Handler]] = {}
        for provider in self.providers:
            for (method, path), (operation, handler) in provider.routes().items():
                if path.endswith("}"):
                    base = provider.prefix + path[: path.rindex("{")]
                    self._parameter_routes[(method, base)] = (provider, operation, handler)
                else:
                    self._routes[(method, provider.prefix + path)] = (provider, operation, handler)

    # --- lifecycle ---

    def start(self) -> ProviderSandbox:
        self._stopping.clear()
        self._server = ListeningServer((self.host, self.port), _RequestHandler)
        self._server.sandbox = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="provider-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes slow answers
        self._cancel_timers()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ProviderSandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """Every option: the sandbox's own, then each provider's, in registry order."""
        own = (
            Option("slow_seconds", float, 30.0, "how long the slow magic inputs wait before answering"),
            Option("quiet", bool, False, "do not log requests"),
        )
        return own + tuple(option for entry in PROVIDERS for option in _provider_class(entry).options)

    @classmethod
    def prefixes(cls) -> dict[str, str]:
        """Each provider's name -> the path prefix it is served under (`/<name>/...`); no server needed."""
        return {entry.name: _provider_class(entry).prefix for entry in PROVIDERS}

    def operations(self) -> dict[str, dict[str, str]]:
        """Each provider's operations, from the route table: name (as `/_sandbox/calls` counts it and a fault names
        it) -> the endpoint serving it, `METHOD /path` under the provider's base URL."""
        served: dict[str, dict[str, str]] = {provider.name: {} for provider in self.providers}
        for provider in self.providers:
            for (method, path), (operation, _) in provider.routes().items():
                served[provider.name][operation] = f"{method} {path}"
        return served

    def base_urls(self) -> dict[str, str]:
        """`<PREFIX>_BASE_URL` of each provider -> where the sandbox serves it."""
        return {entry.base_url_variable: self.url + provider.prefix for entry, provider in self._entries}

    # --- state ---

    @property
    def calls(self) -> dict[tuple[str, str], int]:
        with self.lock:
            return dict(self._calls)

    def call_count(self, provider: str, operation: str) -> int:
        with self.lock:
            return self._calls[(provider, operation)]

    def calls_by_provider(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {provider.name: {} for provider in self.providers}
        for (provider, operation), count in sorted(self.calls.items()):
            result.setdefault(provider, {})[operation] = count
        return result

    def count(self, provider: str, operation: str) -> None:
        with self.lock:
            self._calls[(provider, operation)] += 1

    def forget_tokens(self) -> None:
        for provider in self.providers:
            provider.forget_tokens()

    def reset(self) -> None:
        self._cancel_timers()
        with self.lock:
            self._calls.clear()
            self._faults.clear()
        for provider in self.providers:
            provider.reset()

    # --- helpers used by providers ---

    def stops_within(self, seconds: float) -> bool:
        """Waits `seconds`, or less when the sandbox stops meanwhile: True then."""
        return self._stopping.wait(seconds)

    def pause(self) -> None:
        """A slow provider: wait slow_seconds (cut short by stop()), then answer normally."""
        self.stops_within(self.slow_seconds)

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        def run() -> None:
            with self.lock:
                self._timers.discard(timer)
            if not self._stopping.is_set():
                action()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self.lock:
            self._timers.add(timer)
        timer.start()

    def _cancel_timers(self) -> None:
        with self.lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def post_webhook(self, provider: str, url: str, payload: dict) -> None:
        """One outgoing webhook delivery; failures are logged (without the URL: it carries a secret) and ignored."""
        self.count(provider, "webhook")
        if urlsplit(url).scheme not in ("http", "https"):
            log(f"{provider} webhook not sent (not an http(s) URL)")
            return
        request = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with WEBHOOK_OPENER.open(request, timeout=5) as response:
                response.read()
        except Exception as exc:  # noqa: BLE001 - any delivery failure is logged and ignored, as documented
            log(f"{provider} webhook delivery failed ({type(exc).__name__})")

    # --- dispatch ---

    @staticmethod
    def _admin(action: Callable[[], None], key: str) -> Handler:
        def handler(_: Request) -> Reply:
            action()
            return json_reply(200, {key: True})

        return handler

    def dispatch(self, request: Request) -> Reply:
        route = self._routes.get((request.method, request.path))
        if route is None and "/" in request.path:
            base, _, parameter = request.path.rpartition("/")
            route = self._parameter_routes.get((request.method, base + "/")) if parameter else None
        if route is None:
            return self._not_found(request)
        provider, operation, handler = route
        fault = None
        if provider is not None:
            self.count(provider.name, operation)
            fault = self._next_fault(provider.name, operation)
            if fault is not None and not fault.drip:
                return fault
        try:
            answer = handler(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must answer 500, not kill the connection
            frames = traceback.extract_tb(exc.__traceback__)
            where = ", ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[-3:])
            log(f"internal error {type(exc).__name__} at {where}")
            return json_reply(500, {"error": "sandbox internal error", "type": type(exc).__name__})
        return replace(answer, drip=fault.drip) if fault is not None else answer

    def _not_found(self, request: Request) -> Reply:
        for provider in self.providers:
            if request.path == provider.prefix or request.path.startswith(provider.prefix + "/"):
                return provider.not_found(request)
        return json_reply(404, {"error": "not found", "path": request.path})


def _provider_class(entry: ProviderEntry) -> type[Provider]:
    """The class the registry entry's sandbox module names `PROVIDER`."""
    provider_class = importlib.import_module(entry.sandbox).PROVIDER
    if provider_class.name != entry.name:
        raise ValueError(f"{entry.sandbox}.PROVIDER is {provider_class.name!r}, the registry says {entry.name!r}")
    return provider_class
