"""A local stand-in for the API Gateway REST API: routes from the template's `Api` events, each request turned
into a faithful proxy event for the function's real handler, and its answer written back as API Gateway would."""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.api_events import proxy_event
from local.background import Invoker
from local.listening import ListeningServer
from project import template as cfn

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's REST payload limit
OPENAPI_DOCUMENT = cfn.ROOT / "openapi.json"
BAD_LENGTH = "Bad Request: Content-Length must be one whole number of bytes"
BAD_CHUNKS = "Bad Request: the body is not in chunked transfer coding alone"
DIGITS = re.compile(r"[0-9]+")
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+")
MAX_TRAILER_LINES = 100  # http.server's own limit on header lines


class BodyRefused(Exception):
    """A request whose body cannot be read (its end unknown, or too large): answered, then its connection closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


TOO_LARGE = (413, "request_too_large", "Request Entity Too Large")


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # the template path, e.g. /connectfi/applications/{applicationId}
    pattern: re.Pattern[str]
    function: cfn.FunctionSpec

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None or self.method not in (method, "ANY"):  # a route of ANY takes every method
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def routes_of(functions: dict[str, cfn.FunctionSpec]) -> list[Route]:
    routes = []
    for spec in functions.values():
        for method, resource in spec.api_events:
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
            routes.append(Route(method, resource, re.compile(regex), spec))
    return routes


def route_miss_status(template: dict[str, Any] | None = None) -> int:
    """What the template's API answers a path or method it does not define (API Gateway's
    MISSING_AUTHENTICATION_TOKEN, which an unsigned request meets too): its gateway response's status, else
    API Gateway's own 403."""
    responses = cfn.resources(template)["GatewayApi"]["Properties"].get("GatewayResponses", {})
    return int(responses.get("MISSING_AUTHENTICATION_TOKEN", {}).get("StatusCode", 403))


class ApiServer:
    def __init__(self, routes: list[Route], invoke: Invoker, host: str = "127.0.0.1", port: int = 3000) -> None:
        self.routes = routes
        self.invoke = invoke
        self.route_miss_status = route_miss_status()
        self._server = ListeningServer((host, port), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="api", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None, request_id: str
    ) -> tuple:
        """(status, [(header, value)], body bytes) for one request, API Gateway's id of it `request_id`."""
        split = urlsplit(target)
        if (method, split.path) == ("GET", "/openapi.json"):  # the API's contract, for people and fuzzers
            answer = [("Content-Type", "application/json"), ("X-Correlation-Id", correlation_id(headers, request_id))]
            return 200, answer, local_openapi_document(self.url)
        for route in self.routes:
            parameters = route.match(method, split.path)
            if parameters is not None:
                break
        else:
            # What API Gateway answers for a path or method the API does not define (its gateway response, in
            # the template's envelope).
            miss = self.route_miss_status
            return gateway_answer(miss, "not_authenticated", "Missing Authentication Token", request_id, headers)
        event = proxy_event(
            method,
            split.path,
            resource=route.resource,
            headers=headers,
            query=parse_qsl(split.query, keep_blank_values=True),
            body=body,
            path_parameters=parameters,
            request_id=request_id,
        )
        try:
            result = self.invoke(route.function, event)
            return _proxy_answer(result)
        except Exception:  # noqa: BLE001 - a crashed or malformed integration is API Gateway's 502
            # Logged as Lambda's runtime logs a function's unhandled error (its type and trace), so that a developer
            # sees why; the caller gets API Gateway's envelope only.
            print(f"{route.function.logical_id} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            return gateway_answer(502, "gateway_error", "Internal server error", request_id, headers)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

            def __getattr__(self, name: str) -> Any:
                # Every method (GET, POST, ..., TRACE, QUERY) goes through the routes, as on API Gateway, where
                # one the API does not define answers 403, never http.server's 501.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def _serve(self) -> None:
                request_id, sent = str(uuid.uuid4()), list(self.headers.items())
                try:
                    payload = request_body(self.rfile, self.headers)
                except BodyRefused as refused:
                    # Where the body ends is unknown (or it is not read): the connection cannot serve another request.
                    self.close_connection = True
                    status, headers, body = gateway_answer(
                        refused.status, refused.code, refused.message, request_id, sent
                    )
                else:
                    status, headers, body = api.handle(self.command, self.path, sent, payload, request_id)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("x-amzn-RequestId", request_id)  # on every answer, as API Gateway's
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":  # an answer to HEAD is its headers only (RFC 9110 9.3.2)
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # the functions log; request lines would only repeat paths

        return Handler


def request_body(rfile: Any, headers: Any) -> bytes | None:
    """The request's body (None when empty), by its Content-Length or in chunked transfer coding, which a client
    streaming its body sends and API Gateway takes; BodyRefused when neither says where it ends, or it is too large."""
    codings = [
        coding.strip().lower() for value in headers.get_all("Transfer-Encoding") or [] for coding in value.split(",")
    ]
    if codings:
        if codings != ["chunked"] or headers.get_all("Content-Length"):  # with both, where it ends is ambiguous
            raise BodyRefused(400, "request_refused", BAD_CHUNKS)
        return read_chunked(rfile) or None
    length = content_length(headers.get_all("Content-Length") or [])
    if length is None:
        raise BodyRefused(400, "request_refused", BAD_LENGTH)
    if length > MAX_PAYLOAD_BYTES:
        raise BodyRefused(*TOO_LARGE)
    return rfile.read(length) if length else None


def read_chunked(rfile: Any) -> bytes:
    """A body in chunked transfer coding (RFC 9112, 7.1): its chunks joined; chunk extensions and trailers ignored."""
    body = bytearray()
    while True:
        size_field = rfile.readline(1024).split(b";", 1)[0].strip()
        if not CHUNK_SIZE.fullmatch(size_field):
            raise BodyRefused(400, "request_refused", BAD_CHUNKS)
        size = int(size_field, 16)  # a line of at most 1024 bytes: a big number, but a bounded one
        if size == 0:
            break
        if len(body) + size > MAX_PAYLOAD_BYTES:
            raise BodyRefused(*TOO_LARGE)
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(2) not in (b"\r\n", b"\n"):  # lines end in CRLF, or LF alone
            raise BodyRefused(400, "request_refused", BAD_CHUNKS)
        body += chunk
    for _ in range(MAX_TRAILER_LINES):  # the trailer section, ignored, up to its empty line
        line = rfile.readline(8192)
        if line in (b"\r\n", b"\n"):
            return bytes(body)
        if not line.endswith(b"\n"):  # the connection closed, or a line too long: the body's end never came
            break
    raise BodyRefused(400, "request_refused", BAD_CHUNKS)


def content_length(values: list[str]) -> int | None:
    """The body's length from the request's Content-Length headers (0 without one); None when they do not declare
    one length as RFC 9110 writes it: digits only (no sign, no spaces inside), the same value if repeated. A value
    longer than any payload allowed counts as too large without being converted."""
    declared = {value.strip() for value in values}
    if not declared:
        return 0
    if len(declared) > 1 or not DIGITS.fullmatch(value := declared.pop()):
        return None
    return MAX_PAYLOAD_BYTES + 1 if len(value.lstrip("0")) > len(str(MAX_PAYLOAD_BYTES)) else int(value)


def _proxy_answer(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise ValueError("not a proxy integration response")
    # The two maps merged as API Gateway merges them: a header in both is answered with multiValueHeaders' values
    multi = result.get("multiValueHeaders") or {}
    named = {name.lower() for name in multi}
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items() if name.lower() not in named]
    for name, values in multi.items():
        headers += [(name, str(value)) for value in values]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return result["statusCode"], headers, raw


def local_openapi_document(url: str) -> bytes:
    """openapi.json as this stack at `url` serves its routes: its one server is this stack (a client or fuzzer
    reading the document sends there, not to a deployed stage); the deployed API requires SigV4 on every route but
    the webhook, this stack checks no signature, so each signed operation lists "no security" as an alternative too."""
    document = json.loads(OPENAPI_DOCUMENT.read_text())
    document["servers"] = [{"url": url, "description": "This local stack, which checks no signature"}]
    for operations in document["paths"].values():
        for operation in operations.values():
            if operation.get("security"):
                operation["security"] = [*operation["security"], {}]
    return json.dumps(document).encode()


def gateway_answer(
    status: int, code: str, message: str, request_id: str, sent: list[tuple[str, str]]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """API Gateway's own answer, shaped by the template's GatewayResponses: the layer's error envelope (its
    `correlationId` the request id), and an X-Correlation-Id header echoing the caller's in `sent` (the request's
    headers) when it is sane, as the template's gateway responses echo it, else the request id."""
    from kyc_gateway.errors import GatewayError

    envelope = GatewayError(message, code=code).envelope(request_id)
    headers = [("Content-Type", "application/json"), ("X-Correlation-Id", correlation_id(sent, request_id))]
    return status, headers, json.dumps(envelope).encode()


def correlation_id(sent: list[tuple[str, str]], request_id: str) -> str:
    """The caller's X-Correlation-Id in `sent` (the request's headers) when it is sane, else the request id: the last
    one sent, trimmed, as the functions read it (an event's header map keeps a repeated header's last)."""
    from kyc_gateway.api import sane_correlation_id

    supplied = next((value.strip() for name, value in reversed(sent) if name.lower() == "x-correlation-id"), None)
    return sane_correlation_id(supplied) or request_id
