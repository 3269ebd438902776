"""A provider's answer as the gateway reads it: status, text, its JSON body and request id, and the gateway error
describing it. Apart from the HTTP client so that the API edge can read answers without loading requests."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kyc_gateway import strict_json
from kyc_gateway.errors import GatewayError

_NOT_STRICT = object()  # a body that is not strict JSON


@dataclass(frozen=True)
class ProviderResponse:
    provider: str
    status: int
    text: str
    headers: Mapping[str, str] = field(repr=False)
    # A rate limit whatever the HTTP status: 429, or a body code its provider documents as one.
    throttled: bool = False
    # A write answered by what cannot say whether the provider did it (a 504, a 5xx that is not the provider's
    # JSON), or redirected: it may have been done.
    outcome_unknown: bool = False
    # The answer to a write (a call never repeated blindly).
    write: bool = False
    # Longer than the gateway reads (kyc_gateway.http.ANSWER_LIMIT_BYTES): its text is left empty, unread.
    oversized: bool = False
    # When the request that got this answer was sent, and when the answer came (epoch seconds): a read's answer is
    # true of a moment after it was sent; a write's answer (the state it made) is true from its arrival on.
    sent_at: float | None = None
    received_at: float | None = None

    @functools.cached_property
    def _strict_value(self) -> Any:
        """The body's JSON value, read as the gateway reads its callers' bodies (kyc_gateway.strict_json), or
        _NOT_STRICT when it cannot be."""
        try:
            return strict_json.loads_text(self.text)
        except ValueError:
            return _NOT_STRICT

    @functools.cached_property
    def body(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one (HTML error pages, truncated JSON, lists), or is not
        strict JSON: a key given twice, NaN, a number no double holds (the gateway could not pass such an answer on
        faithfully, nor its callers read it)."""
        value = self._strict_value
        return value if isinstance(value, dict) else None

    @property
    def lenient_json_only(self) -> bool:
        """JSON as Python's lenient reader takes it but not strict JSON (NaN, a key given twice, a number no double
        holds): no body (`body` is None), yet not the text or HTML page a "not JSON" answer is."""
        if self._strict_value is not _NOT_STRICT:
            return False
        try:
            json.loads(self.text)
        except (ValueError, RecursionError):  # nested deeper than Python's reader goes: not JSON it can pass on
            return False
        return True

    @functools.cached_property
    def request_id(self) -> str | None:
        """The provider's request id (its body's `request_id` or `requestId`), if any."""
        body = self.body or {}
        value = body.get("request_id") or body.get("requestId")
        return str(value) if value else None

    @property
    def may_have_acted(self) -> bool:
        """A write answered 2xx (the provider says it did it, whatever the body says next) or 5xx (something failed,
        before or after the write: a server failing mid-request, a proxy whose upstream broke off, a 503 from a mesh
        whose upstream reset after the request went out)."""
        return self.write and (200 <= self.status < 300 or self.status >= 500)

    def unusable(self, kind: type[GatewayError], provider_code: str | int | None = None) -> GatewayError:
        """The gateway error for an answer it cannot use (unreadable, or no documented signal): after a write the
        provider may have acted on, the write's outcome is unknown (never sent again under its Idempotency-Key). A
        failure the provider documents is mapped with `error`, its outcome known."""
        error = self.error(kind, provider_code=provider_code)
        error.outcome_unknown = error.outcome_unknown or self.may_have_acted
        return error

    def error(
        self,
        kind: type[GatewayError],
        *,
        code: str | None = None,
        provider_code: str | int | None = None,
        details: list[dict[str, Any]] | None = None,
        after_acting: bool = False,
    ) -> GatewayError:
        """A gateway error describing this answer (provider, its HTTP status and request id, and its code); a rate
        limit carries the provider's Retry-After, when it gave one in seconds, on to the caller. A failure the
        provider documents as possibly `after_acting` (its back office failing mid-request) leaves a write's
        outcome unknown, whatever the status."""
        error = kind(
            code=code,
            provider=self.provider,
            provider_status=self.status,
            provider_code=provider_code,
            provider_request_id=self.request_id,
            details=details,
            outcome_unknown=self.outcome_unknown or (after_acting and self.write),
        )
        retry_after = (self.headers.get("Retry-After") or "").strip()
        if error.status == 429 and retry_after.isascii() and retry_after.isdigit():
            error.retry_after_seconds = int(retry_after)
        return error


def int_or_none(value: Any) -> int | None:
    """A provider's numeric code, whether it came as a number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
