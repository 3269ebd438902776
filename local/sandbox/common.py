"""What every sandbox provider shares: requests and replies, token stores, the `Provider` base class, helpers."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs

EXTRA_FIELD = {"extra_field": "kept"}  # undocumented field on success bodies, to test pass-through
ALNUM = string.ascii_letters + string.digits


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """2022-10-07T08:18:57.360Z"""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_offset(moment: datetime) -> str:
    """2023-12-22T06:04:30.477+00:00 (Spring Boot style)"""
    return iso_z(moment)[:-1] + "+00:00"


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def random_hex(length: int) -> str:
    return secrets.token_hex((length + 1) // 2)[:length]


def stable_digits(seed: str, length: int) -> str:
    """Deterministic digits derived from seed (same input, same synthetic record)."""
    number = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    return str(number)[-length:].zfill(length)


def stable_hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def log(line: str) -> None:
    sys.stderr.write(f"sandbox: {line}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Requests and replies
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return (self.headers.get(name) or "").strip()

    def json(self) -> Any:
        """Parsed JSON body; raises ValueError when the body is not JSON or not sent as JSON: every provider's
        document asks for `Content-Type: application/json`, so each refuses any other as it refuses a bad body (and
        the sandbox's own admin endpoints take JSON the same way)."""
        if self.header("Content-Type").partition(";")[0].strip().lower() != "application/json":
            raise ValueError("not sent as application/json")
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """Form fields (every value kept, to detect duplicates); empty unless form-encoded."""
        if not self.header("Content-Type").lower().startswith("application/x-www-form-urlencoded"):
            return {}
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False  # drop the connection (TCP RST) instead of answering
    cut: bool = False  # send the headers and half the body, then close: the answer breaks off mid-body
    drip: float = 0.0  # send the status line, headers and body a byte at a time, this many seconds apart


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def html_reply(status: int) -> Reply:
    """An nginx-style HTML error page, as a provider's gateway would send it."""
    title = f"{status} {HTTPStatus(status).phrase}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), "text/html")


def truncated_json_reply(payload: Any) -> Reply:
    """HTTP 200, Content-Type JSON, but the body stops half way (invalid JSON)."""
    text = json.dumps(payload).encode()
    return Reply(200, text[: len(text) // 2])


Handler = Callable[[Request], Reply]
Effect = Callable[[], "Reply | None"]


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


@dataclass
class _Token:
    expires_at: float
    meta: dict
    used: bool = False


class TokenStore:
    """Issued tokens with expiry; single-use consumption for refresh tokens. Thread-safe."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._tokens: dict[str, _Token] = {}

    def issue(self, ttl: float, length: int = 64, **meta: Any) -> str:
        token = random_alnum(length)
        with self._lock:
            self._tokens[token] = _Token(time.time() + ttl, meta)
        return token

    def valid(self, token: str) -> dict | None:
        """The token's metadata when it is known, unused and unexpired; otherwise None."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.used or record.expires_at <= time.time():
                return None
            return record.meta

    def consume(self, token: str) -> tuple[str, dict | None]:
        """Single use: ("ok", meta) the first time; ("inactive", None) when used or expired; ("unknown", None)."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return "unknown", None
            if record.used or record.expires_at <= time.time():
                return "inactive", None
            record.used = True
            return "ok", record.meta

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# ---------------------------------------------------------------------------------------------
# Providers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """A setting of the sandbox: a keyword of `ProviderSandbox`, the CLI flag `--<name>` and, in `make run`, the
    environment variable `SANDBOX_<NAME>`."""

    name: str
    kind: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def variable(self) -> str:
        return f"SANDBOX_{self.name.upper()}"


class SandboxServices(Protocol):
    """What a provider may ask of the sandbox that serves it (`ProviderSandbox` provides it). Providers receive it;
    none imports the server, which loads them."""

    lock: threading.RLock  # the sandbox's one lock, shared by every provider's state

    def pause(self) -> None:
        """A slow answer: wait the sandbox's slow_seconds (cut short when it stops)."""

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` seconds, unless the sandbox is stopped or reset first."""

    def post_webhook(self, provider: str, url: str, payload: dict) -> None:
        """One outgoing webhook delivery, counted as `provider`'s `webhook`."""


class Provider:
    """One provider: its routes (relative to its prefix), its state and its own 404 shape.

    Each provider module names its class `PROVIDER` and the fake secrets the local stack reaches it with
    `LOCAL_SECRETS`; the sandbox builds every one alike, as
    `PROVIDER(sandbox, credentials, options)`: its section of the secrets file, and the values of the options it
    declares in `options` (token lifetimes...).
    """

    name = ""  # the registry's name for it
    prefix = ""
    options: tuple[Option, ...] = ()

    def __init__(self, sandbox: SandboxServices, credentials: dict, options: Mapping[str, Any]) -> None:
        self.sandbox = sandbox
        self.lock = sandbox.lock

    def routes(self) -> dict[tuple[str, str], tuple[str, Handler]]:
        raise NotImplementedError

    def not_found(self, request: Request) -> Reply:
        raise NotImplementedError

    def reset(self) -> None:
        self.forget_tokens()

    def forget_tokens(self) -> None:
        pass

    def relative(self, request: Request) -> str:
        return request.path[len(self.prefix) :] or "/"

    @staticmethod
    def magic(table: Mapping[str, Effect], key: Any) -> Reply | None:
        """Run the effect bound to a magic input; None means 'carry on normally'."""
        effect = table.get(key) if isinstance(key, str) else None
        return effect() if effect else None
