"""What the client checks of its settings and arguments before anything is sent: each refusal is its own error
(status 0), never a ValueError, a TypeError or a UnicodeEncodeError of the HTTP stack."""

from __future__ import annotations

import ipaddress
import math
import re
import uuid
from urllib.parse import urlsplit

import requests

from kyc_gateway_client.errors import ClientMisconfigured, InvalidBaseUrl, InvalidRequest

# An Idempotency-Key that does not fit the gateway's rule (docs/api.md) is refused by the gateway: refused here
# first. A correlation id need only be sendable as a header (printable ASCII, no space at either end): the gateway
# replaces one it does not echo by its request id, which the answer's correlation_id then shows. \Z, not $: $ would
# let a trailing line break through.
_CORRELATION_ID = re.compile(r"[!-~](?:[ -~]{0,126}[!-~])?\Z")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,254}\Z")
_PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z")


def header_value(argument: str, value: object) -> str:
    """The caller's correlation_id or idempotency_key if the gateway takes it as sent, a new UUID if None. Only None
    is "none given": an empty or unsendable value is refused, not replaced (the caller's key would be lost). The
    value is not repeated in the error: it may be what could not be printed or sent."""
    if value is None:
        return str(uuid.uuid4())
    if argument == "correlation_id":
        pattern, issue = _CORRELATION_ID, "must be 1-128 printable ASCII characters, no space at either end"
    else:
        pattern = _IDEMPOTENCY_KEY
        issue = "must be a string of 1-255 letters, digits or . _ : -, starting with a letter or digit"
    if isinstance(value, str) and pattern.match(value):
        return value
    raise InvalidRequest(
        0,
        "validation_error",
        f"{argument} {issue}; nothing was sent",
        details=[{"field": argument, "issue": issue, "type": "header"}],
    )


def purpose_value(value: object) -> str | None:
    """The caller's purpose (sent as X-Request-Purpose) if the gateway takes it, None if none was given: an opaque
    code or case id, never personal data. Anything else is refused before anything is sent, as the gateway would."""
    if value is None or (isinstance(value, str) and _PURPOSE.match(value)):
        return value
    issue = "must be 1-128 letters, digits or . _ : -, starting with a letter or digit (a code, never personal data)"
    raise InvalidRequest(
        0,
        "validation_error",
        f"purpose {issue}; nothing was sent",
        details=[{"field": "purpose", "issue": issue, "type": "header"}],
    )


def usable_base_url(url: object) -> str:
    """The gateway's URL without its trailing slash, if requests can be sent under it. The URL is not repeated in
    the error: it may hold what should not be logged."""
    if not url:
        raise InvalidBaseUrl(0, "invalid_base_url", "the gateway's URL: pass base_url or set KYC_GATEWAY_URL")
    try:
        parts = urlsplit(url)  # type: ignore[arg-type]
        port_usable = parts.port is None or parts.port > 0  # .port raises for a port that is not 0-65535
        host_usable = bool(parts.hostname) and connectable(parts.hostname)
    except (AttributeError, TypeError, ValueError):  # not a string, such a port, a broken IPv6 address
        port_usable = host_usable = False
    if not isinstance(url, str) or not port_usable or parts.scheme not in ("http", "https") or not host_usable:
        raise InvalidBaseUrl(0, "invalid_base_url", "the gateway's URL must be http:// or https:// with a host")
    if "?" in url or "#" in url or parts.username is not None or parts.password is not None:
        raise InvalidBaseUrl(
            0, "invalid_base_url", "the gateway's URL must be the API's base: no query, fragment or credentials"
        )
    if any(character.isspace() or not character.isprintable() for character in url):
        # urlsplit drops tabs and line breaks silently, and a path with a space reaches no route
        raise InvalidBaseUrl(0, "invalid_base_url", "the gateway's URL must not hold spaces or control characters")
    return url.rstrip("/")


def in_clear_to_another_host(url: str) -> bool:
    """Whether requests under `url` would cross a network in clear: http:// to a host that is not this machine's
    (a local gateway, such as `make run`'s, is served over http:// on the loopback)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return True


def check_timing(timeout: object, budget: object, attempts: object, backoff: object, backoff_cap: object) -> None:
    """Timing settings requests and the retry loop can use: positive timeouts and budget, at least one attempt."""

    def number(value: object, *, positive: bool) -> bool:
        usable = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return usable and (value > 0 if positive else value >= 0)  # type: ignore[operator]

    usable = (
        isinstance(timeout, tuple)
        and len(timeout) == 2
        and all(number(part, positive=True) for part in timeout)
        and number(budget, positive=True)
        and isinstance(attempts, int)
        and not isinstance(attempts, bool)
        and attempts >= 1
        and number(backoff, positive=False)
        and number(backoff_cap, positive=False)
    )
    if not usable:
        raise ClientMisconfigured(
            0,
            "invalid_timing",
            "timeout must be (connect, read) seconds above 0, budget_seconds above 0, max_attempts 1 or more, "
            "backoff_seconds and backoff_cap_seconds 0 or more",
        )


def connectable(host: str) -> bool:
    """Whether a connection can be opened to `host`: urllib3 refuses a name with an empty label or one over 63
    characters (the IDNA codec's rule) when it connects."""
    try:
        host.encode("idna")
        literal = f"[{host}]" if ":" in host else host  # an IPv6 address
        requests.PreparedRequest().prepare_url(f"http://{literal}/", None)  # requests' own IDNA check (IDNA 2008)
    except (UnicodeError, requests.exceptions.InvalidURL):
        return False
    return True
