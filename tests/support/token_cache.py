"""The token cache's test kit: a counting token endpoint, caches of emulated instances, the stored item, a request
in flight, the warnings logged."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from local.functions import cold_start
from tests.support.dynamodb import plain

KEY = "provider#abc"


@pytest.fixture(name="table")
def table_of_waits_that_move_the_clock(physical_ids: dict[str, str], clock: Any) -> Iterator[str]:
    """The token table, for instances whose waits move the clock rather than take time (import it to use it)."""
    cold_start()
    clock.skip_sleeps()
    yield physical_ids["TokenTable"]
    cold_start()  # no client a test cut off outlives it


class CountingProvider:
    """A token endpoint that counts requests and records the previous token each got; each token lives `lifetime`
    seconds, with a refresh token (unless `with_refresh` is off) living twice as long (or no expiry given, unless
    `refresh_expires`)."""

    def __init__(self, lifetime: float = 3600, delay: float = 0.0, *, refresh_expires: bool = True) -> None:
        self.lifetime = lifetime
        self.refresh_expires = refresh_expires
        self.delay = delay
        self.with_refresh = True
        self.calls = 0
        self.previous_seen: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, previous: Any) -> Any:
        from kyc_gateway import clock
        from kyc_gateway.token_cache import Token

        with self._lock:
            self.calls += 1
            number = self.calls
        self.previous_seen.append(previous)
        time.sleep(self.delay)
        now = clock.now()
        refresh = {}
        if self.with_refresh:
            refresh_expires = now + 2 * self.lifetime if self.refresh_expires else None
            refresh = {"refresh_value": f"refresh-{number}", "refresh_expires_at": refresh_expires}
        return Token.issued(f"token-{number}", now=now, expires_at=now + self.lifetime, **refresh)


def new_cache(table: str, key: str = KEY, renewal_seconds: float = 20.0) -> Any:
    """The token cache of a new instance."""
    from kyc_gateway.token_cache import TokenCache

    return TokenCache(key, table, renewal_seconds=renewal_seconds)


def stored_item(aws: Any, table: str, key: str = KEY) -> dict[str, str] | None:
    """The token's item in the table, as plain values."""
    reply = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
    return None if "Item" not in reply else plain(reply["Item"])


@contextlib.contextmanager
def in_request(seconds_left: float) -> Iterator[None]:
    """This thread serves a request whose provider calls have `seconds_left` (negative: its deadline has passed)."""
    from kyc_gateway import clock

    remaining_ms = (seconds_left + clock.ANSWER_MARGIN_SECONDS) * 1000
    clock.start_request(SimpleNamespace(get_remaining_time_in_millis=lambda: remaining_ms))
    try:
        yield
    finally:
        clock.start_request(None)


def warnings(written: str) -> list[tuple[str, str, str]]:
    """(message, key, error) of each warning logged."""
    lines = [json.loads(line) for line in written.splitlines() if line.startswith('{"level":"WARNING"')]
    return [(line["message"], line["key"], line["error"]) for line in lines]


class RefusingProvider(CountingProvider):
    """A token endpoint refusing the gateway's credentials (after the secret was read again)."""

    def __call__(self, previous: Any) -> Any:
        from kyc_gateway.errors import ProviderAuthFailed

        with self._lock:
            self.calls += 1
        raise ProviderAuthFailed(provider="provider", provider_status=401)


class FailingProvider(CountingProvider):
    """A token endpoint that does not answer in time (the gateway's 504), every time."""

    def __call__(self, previous: Any) -> Any:
        from kyc_gateway.errors import ProviderTimeout

        with self._lock:
            self.calls += 1
        raise ProviderTimeout(provider="provider")


def outcome_of(call: Callable[[], Any]) -> Any:
    """What `call` returns, or the error it raises."""
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - the outcome under test
        return error
