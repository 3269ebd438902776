"""One HTTP client base for every provider: a keep-alive session, timeouts on every call, bounded safe retries."""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import requests
from urllib3.exceptions import HTTPError, ReadTimeoutError

from kyc_gateway import clock
from kyc_gateway.errors import (
    ProviderBadResponse,
    ProviderCircuitOpen,
    ProviderTimeout,
    ProviderUnavailable,
    RequestNotBuilt,
)
from kyc_gateway.fields import RawJson
from kyc_gateway.observability import record_provider_call
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.settings import Settings
from kyc_gateway.watchdog import Watch, WatchedAdapter

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = range(300, 400)
_BACKOFF_BASE_SECONDS = 0.2
_BACKOFF_CAP_SECONDS = 2.0
# A provider's answer is read up to this many bytes, as decoded: past it, it is neither read on nor used (a
# decompression bomb, an endless body would otherwise fill the function's memory, which Lambda ends without an
# answer, an audit record or the gateway's envelope). Every documented answer is a few kilobytes, and an answer
# passed on must fit, with its JSON escaping, in Lambda's 6 MB response.
ANSWER_LIMIT_BYTES = 4 * 1024 * 1024


class _Writes(threading.local):
    begun = 0


_writes = _Writes()


def writes_begun() -> int:
    """How many provider writes this thread has begun to send, ever (counted before sending, as an error while
    sending may leave no other trace): two readings that differ mean a write may have reached its provider."""
    return _writes.begun


# A call whose timeout came this close to the end of its budget ran to its end (the watchdog cuts it there).
_ITS_END_SECONDS = 0.05


class CircuitBreaker:
    """Stops hammering a provider that keeps failing. After `threshold` consecutive failed calls (each after its
    own retries: timeouts, unreachable, 429, 5xx; a business refusal is a healthy answer, and a timeout at its
    request's own deadline says nothing of the provider) the circuit opens: for
    `cooldown` seconds calls fail fast without reaching the provider. Then calls go through again; one more
    failure re-opens it at once, a success closes it. Per instance: each Lambda instance learns on its own,
    which needs no shared state on the hot path."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures = 0
        self._open_until = 0.0

    def check(self, provider: str) -> None:
        if clock.monotonic() < self._open_until:
            raise ProviderCircuitOpen(provider=provider)

    def open_for(self) -> float:
        """Seconds until calls go through again (0 while they do)."""
        return max(0.0, self._open_until - clock.monotonic())

    def record(self, *, failed: bool) -> None:
        if not failed:
            self._failures, self._open_until = 0, 0.0
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open_until = clock.monotonic() + self.cooldown


class ProviderHttp:
    """HTTP to one provider. Retries connection failures and 429s, and 5xx only when `idempotent` (reads, logins)."""

    def __init__(self, provider: str, base_url: str, settings: Settings) -> None:
        self.provider = provider
        self.base_url = base_url
        self.timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self.budget_seconds = settings.provider_budget_seconds
        self.max_attempts = settings.provider_max_attempts
        self.circuit = CircuitBreaker(settings.circuit_failure_threshold, settings.circuit_cooldown_seconds)
        self.session = requests.Session()
        self.session.mount("https://", WatchedAdapter(pool_maxsize=4, max_retries=0))
        self.session.mount("http://", WatchedAdapter(pool_maxsize=4, max_retries=0))

    def post(
        self,
        path: str,
        *,
        operation: str,
        idempotent: bool,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        throttled: Callable[[ProviderResponse], bool] | None = None,
    ) -> ProviderResponse:
        """POST `path` with a JSON body, a form, or `files` as multipart/form-data (field -> (file name, content,
        media type)). `throttled` recognises a provider's rate limit that is not an HTTP 429; such answers
        are retried like a 429 (reads only) and count as failures for the circuit breaker."""
        url = self.base_url + path
        content, headers = _json_content(json_body, headers)  # a body that cannot be sent is never a provider call
        self.circuit.check(self.provider)
        left = clock.time_left()
        budget = self.budget_seconds if left is None else min(self.budget_seconds, left)
        if budget <= 0:  # the request's time is spent: nothing is sent, and nothing is learnt of the provider
            raise ProviderTimeout(provider=self.provider)
        started = clock.monotonic()
        try:
            response = self._post_with_retries(
                url,
                operation,
                budget=budget,
                idempotent=idempotent,
                content=content,
                form=form,
                files=files,
                headers=headers,
                throttled=throttled,
            )
        except ProviderTimeout:
            # Cut short by the request's own deadline (given what the request had left, less than the provider's
            # budget, and timed out at its end), it says nothing of the provider; its own timeout before then does.
            cut_short = budget < self.budget_seconds and clock.monotonic() - started >= budget - _ITS_END_SECONDS
            if not cut_short:
                self.circuit.record(failed=True)
            raise
        except ProviderUnavailable:
            self.circuit.record(failed=True)
            raise
        self.circuit.record(failed=response.status in _RETRYABLE_STATUSES or response.throttled)
        if response.status in _REDIRECTS:  # no provider documents one; it is never followed (see _post_with_retries)
            raise response.error(ProviderBadResponse)
        if response.oversized and not response.throttled:  # unread past the limit: after a 2xx write, done or not?
            raise response.unusable(ProviderBadResponse)
        if 200 <= response.status < 300 and response.lenient_json_only:
            # a success the gateway cannot read faithfully, whatever its provider module makes of a body it lacks
            raise response.unusable(ProviderBadResponse)
        return response

    def _post_with_retries(
        self,
        url: str,
        operation: str,
        *,
        budget: float,
        idempotent: bool,
        content: bytes | None,
        form: Mapping[str, str] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        headers: Mapping[str, str] | None,
        throttled: Callable[[ProviderResponse], bool] | None,
    ) -> ProviderResponse:
        _check_headers(headers)
        started = clock.monotonic()
        attempt = 0
        while True:  # each attempt returns, raises, or goes round again when _may_retry allows one more
            attempt += 1
            attempt_started, sent_at = clock.monotonic(), clock.now()
            remaining = budget - (attempt_started - started)
            timeout = (min(self.timeout[0], remaining), min(self.timeout[1], remaining))
            # Nothing of the request was sent, so any method may go again, when its connection never began to send
            # it (refused, host not found, a connect or TLS handshake failed or timed out, a proxy unreachable or
            # refusing the tunnel): known from the connection itself, not from the error, which urllib3 may pin on
            # a proxy even after the request went out through it.
            watch = Watch(started + budget)
            if not idempotent:
                _writes.begun += 1
            try:
                reply, body = self._exchange(url, content or form, files, headers, timeout=timeout, watch=watch)
            except requests.Timeout:
                record_provider_call(self.provider, operation, "timeout", _ms_since(attempt_started))
                never_sent = not watch.sent
                if never_sent and self._may_retry(attempt, started, budget, None):
                    continue
                # A write that timed out after it was sent may have been done: its outcome is unknown.
                raise ProviderTimeout(provider=self.provider, outcome_unknown=not (idempotent or never_sent)) from None
            except requests.ConnectionError:
                record_provider_call(self.provider, operation, "unreachable", _ms_since(attempt_started))
                never_sent = not watch.sent
                if (idempotent or never_sent) and self._may_retry(attempt, started, budget, None):
                    continue
                raise ProviderUnavailable(
                    provider=self.provider, outcome_unknown=not (idempotent or never_sent)
                ) from None
            except requests.RequestException:  # an answer cut off mid-body (ChunkedEncodingError), undecodable...
                record_provider_call(self.provider, operation, "broken", _ms_since(attempt_started))
                if idempotent and self._may_retry(attempt, started, budget, None):
                    continue
                raise ProviderUnavailable(provider=self.provider, outcome_unknown=not idempotent) from None
            record_provider_call(self.provider, operation, reply.status_code, _ms_since(attempt_started))
            response = ProviderResponse(
                self.provider,
                reply.status_code,
                "" if body is None else _text_of(body, reply.headers),
                reply.headers,
                oversized=body is None,
                write=not idempotent,
                sent_at=sent_at,
                received_at=clock.now(),
            )
            if not idempotent and _maybe_done(response):
                response = replace(response, outcome_unknown=True)
            limited = throttled is not None and throttled(response)  # the provider's own rate-limit signal
            if reply.status_code == 429 or limited:
                response = replace(response, throttled=True)
            # A 429 refused the request before doing it (RFC 6585), so even a write goes again; a provider's own
            # rate-limit signal in another answer says nothing of the kind, and a 5xx may come after the write.
            retryable = reply.status_code == 429 or (
                idempotent and (reply.status_code in _RETRYABLE_STATUSES or limited)
            )
            if retryable and self._may_retry(attempt, started, budget, reply.headers.get("Retry-After")):
                continue
            return response

    def _exchange(
        self,
        url: str,
        data: bytes | Mapping[str, str] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        headers: Mapping[str, str] | None,
        *,
        timeout: tuple[float, float],
        watch: Watch,
    ) -> tuple[requests.Response, bytes | None]:
        """One attempt: the answer and its whole body (None past ANSWER_LIMIT_BYTES), by `watch`'s deadline however
        slowly they come. An answer the watchdog ended at the deadline is requests' ReadTimeout, as a read that timed
        out: the request was sent, so a write's outcome is unknown."""
        with watch:
            failure: requests.RequestException | None = None
            try:
                # A redirect is never followed: requests would send a write again, or a login's form, elsewhere.
                reply = self.session.post(
                    url,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,  # the body is read under the watch too (requests would read it before returning)
                )
                body = _body_of(reply)
            except requests.RequestException as error:
                failure = error
            # Cut off, an answer may also end without an error, short: headers read to the end of the stream, a body
            # without a length. Either way it is not the provider's whole answer. Whether it was cut is the watch's
            # release to say, not its flag read as the error came: a cut that found the socket already closed (the
            # answer failed on its own meanwhile) unsets the flag, and that error is the answer's own.
            if not watch.release():
                raise requests.ReadTimeout()
            if failure is not None:
                raise failure
            return reply, body

    def _may_retry(self, attempt: int, started: float, budget: float, retry_after: str | None) -> bool:
        """Sleep before the next attempt when one is left and fits the time budget; False to stop retrying."""
        if attempt >= self.max_attempts:
            return False
        delay = random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
        if retry_after is not None:
            with contextlib.suppress(ValueError):  # an HTTP-date Retry-After: keep our own backoff
                delay = max(delay, float(retry_after))
            if delay > _BACKOFF_CAP_SECONDS:
                return False  # the provider asks for a longer pause than a synchronous caller should wait
        # Leave at least a connect timeout's worth of budget for the next attempt.
        if clock.monotonic() - started + delay + self.timeout[0] > budget:
            return False
        clock.sleep(delay)
        return True


def _json_content(body: Any, headers: Mapping[str, str] | None) -> tuple[bytes | None, Mapping[str, str] | None]:
    """`body` as the JSON requests would send (its own encoding: allow_nan=False, UTF-8), with its Content-Type.
    A body that cannot be encoded (NaN, a value JSON has no form for) is the gateway's own fault, raised before
    anything is sent: never a provider failure, never counted by the circuit breaker."""
    if body is None:
        return None, headers
    if isinstance(body, RawJson):  # the caller's own JSON, sent on byte for byte
        return bytes(body), {"Content-Type": "application/json", **(headers or {})}
    try:
        content = json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError):
        raise RequestNotBuilt() from None
    return content, {"Content-Type": "application/json", **(headers or {})}


# A header value requests and http.client send: Latin-1 text without control characters (a tab aside), not beginning
# with a space (one regex: the check runs on every request, requests' own costs a few microseconds).
_SENDABLE_VALUE = re.compile(r"(?:[\x21-\x7e\xa1-\xff][\x20-\x7e\x80-\xff\t]*)?")


def _check_headers(headers: Mapping[str, str] | None) -> None:
    """Refuse, before anything is sent, a header value no request can carry (a line break, a character outside
    Latin-1): the gateway's own fault, its write's outcome known. (requests would refuse it while sending, where its
    error cannot be told from an answer's malformed header, which comes after the request went out.) The names are
    the gateway's own constants."""
    for value in (headers or {}).values():
        if not _SENDABLE_VALUE.fullmatch(value):
            raise RequestNotBuilt()


def _maybe_done(response: ProviderResponse) -> bool:
    """A write answered by something that cannot say whether the provider did it: a gateway timeout (504), or a 5xx
    that is not JSON (a proxy's or load balancer's page, an empty body, a web framework's error page when the
    provider's code failed mid-request); or a write redirected: a 303, and a 302 as servers use it, answer a POST that
    was done. A 5xx in JSON is the provider's to explain: a failure it documents keeps the outcome known, any other
    leaves it unknown (ProviderResponse.unusable)."""
    return response.status == 504 or (response.status >= 500 and response.body is None) or response.status in _REDIRECTS


def _ms_since(started: float) -> float:
    return (clock.monotonic() - started) * 1000


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def _body_of(reply: requests.Response) -> bytes | None:
    """The answer's whole body, decoded as its Content-Encoding says; None when it is longer than ANSWER_LIMIT_BYTES
    (read no further: urllib3 decodes at most what is asked for, however compressed, and stops an endless body
    there). A read late is requests' ReadTimeout, a body broken off or undecodable its ChunkedEncodingError, as the
    callers of requests catch them. A body left half read closes its connection: the next request must not read its
    rest."""
    length = reply.raw.length_remaining  # urllib3's reading of Content-Length: None when chunked or not a number
    plain = length is not None and not reply.headers.get("Content-Encoding")  # read as long as it says, no more
    if plain and length > ANSWER_LIMIT_BYTES:
        reply.close()
        return None
    try:
        try:  # (a bounded read costs a warm request 10 to 50 us more: only where the length does not bound it)
            body = reply.raw.read(None if plain else ANSWER_LIMIT_BYTES + 1, decode_content=True)
        except ReadTimeoutError:
            raise requests.ReadTimeout() from None
        except (HTTPError, OSError):
            raise requests.exceptions.ChunkedEncodingError() from None
        if len(body) > ANSWER_LIMIT_BYTES:
            reply.close()
            return None
        return body
    except BaseException:
        reply.close()
        raise


def _text_of(body: bytes, headers: Mapping[str, str]) -> str:
    """The answer's text in the charset its Content-Type declares, else in UTF-8, JSON's own encoding (a byte-order
    mark dropped; a byte that is not UTF-8 replaced, not the whole body read in another charset). Not `reply.text`:
    requests reads a text/* type without a charset as ISO-8859-1 (a UTF-8 name in a text/plain answer would reach
    the caller garbled) and guesses the charset of an answer without a Content-Type, which costs milliseconds and
    can guess wrong."""
    declared = _CHARSET.search(headers.get("Content-Type") or "")
    if declared:
        # a charset Python does not know, or a codec that is not one (idna): as if none were declared
        with contextlib.suppress(LookupError, UnicodeError):
            return body.decode(declared.group(1), errors="replace")
    return body.decode("utf-8-sig", errors="replace")
