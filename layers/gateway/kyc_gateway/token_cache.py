"""Provider tokens shared by every instance through DynamoDB, with an in-memory copy per instance.

A token is renewed shortly before it expires. Renewal takes a lease (a conditional write) so that many cold
instances wanting a token at once make ONE token request: the lease holder fetches and stores, the others wait
for the stored token (or keep using the current one while it is still valid).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kyc_gateway import aws, clock
from kyc_gateway.errors import (
    GatewayError,
    ProviderAuthFailed,
    ProviderCircuitOpen,
    ProviderFailed,
    ProviderTimeout,
    ProviderUnavailable,
)
from kyc_gateway.observability import logger

# Renew this long before expiry: a fifth of the lifetime, at most a minute, so that a two-minute sandbox
# token is renewed 24 s early and a 14-day token one minute early.
_MAX_RENEWAL_MARGIN_SECONDS = 60.0
_RENEWAL_FRACTION = 0.2
# A renewal's lease lasts as long as the renewal may take (its token requests, each within the provider budget, and
# never beyond the renewing invocation's own deadline), plus this much for clocks that differ between instances: no
# other instance renews meanwhile, so a single-use refresh token is never sent twice.
_LEASE_MARGIN_SECONDS = 5.0
# A login that timed out with less than this left of its request's time was cut short by that request's deadline,
# not by the provider: the requests waiting for it are not told the provider failed.
_DEADLINE_SLACK_SECONDS = 1.0
# Waiting for another instance's renewal: poll the table from 50 ms, doubling to at most 400 ms.
_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 0.4
# A login token the gateway sends in a header as the provider gave it: visible ASCII, no space or line break (what
# any token form is). Another token is the login answer failing: never cached, since no request could carry it and
# so no 401 would come to clear it before it expired; one read back from the table (a row edited by hand) is renewed.
HEADER_TOKEN = "^[!-~]+$"  # noqa: S105 - a pattern, not a secret
header_token = re.compile(HEADER_TOKEN).fullmatch


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float
    renew_at: float
    refresh_value: str | None = None
    refresh_expires_at: float | None = None

    @classmethod
    def issued(
        cls,
        value: str,
        *,
        now: float,
        expires_at: float,
        refresh_value: str | None = None,
        refresh_expires_at: float | None = None,
    ) -> Token:
        lifetime = max(0.0, expires_at - now)
        margin = min(_MAX_RENEWAL_MARGIN_SECONDS, lifetime * _RENEWAL_FRACTION)
        return cls(value, expires_at, expires_at - margin, refresh_value, refresh_expires_at)

    def usable_refresh(self, now: float) -> str | None:
        if self.refresh_value and (self.refresh_expires_at is None or now < self.refresh_expires_at - 5):
            return self.refresh_value
        return None

    def _to_item(self) -> dict[str, Any]:
        item = {
            "token": {"S": self.value},
            "expiresAt": {"N": repr(self.expires_at)},
            "renewAt": {"N": repr(self.renew_at)},
        }
        if self.refresh_value:
            item["refreshToken"] = {"S": self.refresh_value}
        if self.refresh_expires_at is not None:
            item["refreshExpiresAt"] = {"N": repr(self.refresh_expires_at)}
        return item

    @classmethod
    def _from_item(cls, item: dict[str, Any] | None) -> Token | None:
        """The token a row holds; None when it holds none, or one the gateway could not use (a row edited by hand or
        by another version: a value no header can carry, a time that is not a number), which is then renewed."""
        if not item or "token" not in item:
            return None
        try:
            refresh_expires = item.get("refreshExpiresAt")
            token = cls(
                value=item["token"]["S"],
                expires_at=float(item["expiresAt"]["N"]),
                renew_at=float(item["renewAt"]["N"]),
                refresh_value=item.get("refreshToken", {}).get("S"),
                refresh_expires_at=float(refresh_expires["N"]) if refresh_expires else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            token = None
        if token is None or not header_token(token.value):
            logger.warning("token row unusable; renewing it", fields=sorted(item))  # its names, never its values
            return None
        return token


TokenFetcher = Callable[[Token | None], Token]
"""Gets a new token from the provider; receives the previous token (if any) so it can use its refresh token."""


def cache_key(provider: str, *identity: str) -> str:
    """Key of a provider's token: the provider plus a digest of what the token is bound to (issuer URL, user)."""
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:16]
    return f"{provider}#{digest}"


class TokenCache:
    def __init__(self, key: str, table_name: str, *, renewal_seconds: float) -> None:
        """`renewal_seconds`: the longest a renewal can take (all its token requests, within their budgets)."""
        self.key = key
        self.table_name = table_name
        self._renewal_seconds = renewal_seconds
        self._owner = uuid.uuid4().hex
        self._memory: Token | None = None
        self._refused_at = float("-inf")  # when a login of this instance was last refused (credentials)
        self._lock = threading.Lock()

    def restored(self) -> None:
        """This object now serves another Lambda instance (restored from a SnapStart snapshot shared by many): its
        own lease owner, so that two instances never both hold one renewal's lease."""
        self._owner = uuid.uuid4().hex

    def get(self, fetch: TokenFetcher) -> Token:
        asked = clock.now()
        memory = self._memory
        if memory and asked < memory.renew_at:
            return memory
        with self._lock:  # one renewal per instance, even with threads
            return self._get_shared(fetch, asked)

    def invalidate(self, token: Token) -> None:
        """Forget a token the provider refused, unless another instance already replaced it. Under the renewal
        lock: another thread of this instance reading the table before the refusal is stored would put the refused
        token back in memory."""
        with self._lock:
            self._invalidate(token)

    def _invalidate(self, token: Token) -> None:
        if self._memory and self._memory.value == token.value:
            self._memory = replace(token, expires_at=0.0, renew_at=0.0)
        try:
            aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET expiresAt = :zero, renewAt = :zero",
                ConditionExpression="#token = :refused",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":refused": {"S": token.value}},
            )
        except aws.conditional_check_failed():
            pass  # another instance replaced it already
        except Exception as error:  # noqa: BLE001 - a failed invalidation only costs one more 401
            logger.warning("token invalidation not stored", key=self.key, error=type(error).__name__)

    def _get_shared(self, fetch: TokenFetcher, asked: float) -> Token:
        """The token, renewed here or by another instance. A login refused (the provider refusing the gateway's
        credentials) since this request `asked` is its answer too, without a login of its own: a burst of requests
        makes one refused login, not one each, which could lock the provider account. So is a login that failed
        (the provider down, slow, answering what it does not document) since: the requests waiting for it fail
        with it at once, rather than each trying a login in turn after it. A request after either tries."""
        left = clock.time_left()  # wait for another instance's renewal while this request has time
        deadline = clock.now() + (self._lease_seconds() + _LEASE_MARGIN_SECONDS if left is None else left)
        poll = _FIRST_POLL_SECONDS
        while True:
            now = clock.now()
            memory = self._memory
            if memory and now < memory.renew_at:
                return memory  # another thread of this instance renewed it while we waited for the lock
            try:
                item = self._read()
            except Exception as error:  # noqa: BLE001 - DynamoDB trouble must not take the provider down with it
                logger.warning("token table unavailable; fetching without it", key=self.key, error=type(error).__name__)
                if self._last_refusal(None) >= asked:
                    return self._while_refused(memory)
                return self._log_in(fetch, memory)
            stored = Token._from_item(item)
            if stored and now < stored.renew_at:
                return self._remember(stored)
            if self._last_refusal(item) >= asked:
                return self._while_refused(stored or memory)
            if _time_of(item, "failedAt") >= asked:
                return self._while_failed(stored or memory, item)
            unusable = item.get("token") if item and not stored else None  # a row the gateway cannot use
            try:
                leased = self._take_lease(now, asked, unusable)
            except Exception as error:  # noqa: BLE001 - as when the table cannot be read: the provider stays usable
                logger.warning("token lease not written; fetching without it", key=self.key, error=type(error).__name__)
                # as if leased: a lease the table applied though every answer was lost is then stored over and
                # released (each write conditioned on holding it), not left to hold the others up until it expires
                leased = True
            if leased:
                return self._log_in(fetch, stored or memory, leased=True)
            if stored and now < stored.expires_at:
                return stored  # someone is renewing it; the current token is still valid meanwhile
            if now >= deadline:
                raise ProviderUnavailable(
                    "No provider token could be obtained in time",
                    code="token_unavailable",
                    provider=self._provider,  # alarmed per provider
                )
            clock.sleep(poll * random.uniform(0.5, 1.5))
            poll = min(poll * 2, _MAX_POLL_SECONDS)

    @property
    def _provider(self) -> str:
        return self.key.partition("#")[0]  # keys are <provider>#<digest>

    def _last_refusal(self, item: dict[str, Any] | None) -> float:
        """When a login was last refused, by this instance or (in the table) another."""
        return max(self._refused_at, _time_of(item, "refusedAt"))

    def _while_refused(self, current: Token | None, refusal: ProviderAuthFailed | None = None) -> Token:
        """After a login refused: the current token while it is valid (a renewal refused early), else the refusal
        (502, never the caller's 401)."""
        if current and clock.now() < current.expires_at:
            return self._remember(current)
        raise refusal or ProviderAuthFailed(
            "The provider rejected the gateway's credentials while this request waited for a token",
            provider=self._provider,
        )

    def _while_failed(self, current: Token | None, item: dict[str, Any]) -> Token:
        """After the login this request waited for failed: the current token while it is valid, else that failure
        (its status and code: a 502 or a 504, the provider's)."""
        if current and clock.now() < current.expires_at:
            return self._remember(current)
        code = item.get("failure", {}).get("M", {}).get("code", {}).get("S", ProviderFailed.code)
        if code == ProviderTimeout.code:
            raise ProviderTimeout(provider=self._provider)
        waited = "The provider failed the login this request waited for"
        raise ProviderFailed(waited, code=code, provider=self._provider)

    def _log_in(self, fetch: TokenFetcher, previous: Token | None, *, leased: bool = False) -> Token:
        try:
            token = fetch(previous)
        except ProviderAuthFailed as refusal:
            self._refused_at = clock.now()
            if leased:
                self._share_refusal()
            return self._while_refused(previous, refusal)
        except GatewayError as failure:
            if leased and _says_the_provider_failed(failure):
                self._share_failure(failure)
            elif leased:
                self._release_lease()
            raise
        except BaseException:
            if leased:
                self._release_lease()
            raise
        if leased:
            self._store(token)
        return self._remember(token)

    def _remember(self, token: Token) -> Token:
        self._memory = token
        return token

    def _read(self) -> dict[str, Any] | None:
        reply = aws.client("dynamodb").get_item(
            TableName=self.table_name, Key={"pk": {"S": self.key}}, ConsistentRead=True
        )
        return reply.get("Item")

    def _take_lease(self, now: float, asked: float, unusable: dict[str, Any] | None = None) -> bool:
        """Whether this instance now holds the renewal's lease: no live lease of another instance (its own, written
        once already by a retry of this very write whose first answer was lost, is taken again), no fresh token stored
        since we looked (else we would fetch a second one), and no login refused since this request asked (its
        answer then is that refusal). A row holding an `unusable` token is renewed unless its token changed since."""
        values = {
            ":me": {"S": self._owner},
            ":until": {"N": repr(now + self._lease_seconds())},
            ":now": {"N": repr(now)},
            ":asked": {"N": repr(asked)},
            ":number": {"S": "N"},
        }
        fresh = "(attribute_not_exists(renewAt) OR renewAt <= :now)"
        if unusable is not None:
            fresh, values[":seen"] = "#token = :seen", unusable
        try:
            aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET leaseOwner = :me, leaseUntil = :until",
                # a lease time of another type (a hand edit) holds nothing: real DynamoDB finds it neither < nor >
                ConditionExpression="(attribute_not_exists(leaseUntil) OR NOT attribute_type(leaseUntil, :number)"
                " OR leaseUntil < :now OR leaseOwner = :me)"
                f" AND {fresh} AND {_BEFORE_ASKED.format('refusedAt')} AND {_BEFORE_ASKED.format('failedAt')}",
                **({"ExpressionAttributeNames": {"#token": "token"}} if unusable is not None else {}),
                ExpressionAttributeValues=values,
            )
        except aws.conditional_check_failed():
            return False
        return True

    def _lease_seconds(self) -> float:
        left = clock.time_left()
        renewal = self._renewal_seconds if left is None else min(self._renewal_seconds, max(left, 0.0))
        return renewal + _LEASE_MARGIN_SECONDS

    def _store(self, token: Token) -> None:
        item = token._to_item()
        expiry = max(token.expires_at, token.refresh_expires_at or token.expires_at)
        values = {f":{name}": value for name, value in item.items()}
        values[":ttl"] = {"N": str(int(expiry) + 3600)}  # DynamoDB TTL removes long-dead tokens
        values[":me"] = {"S": self._owner}
        assignments = ", ".join(f"#{name} = :{name}" for name in item) + ", #ttl = :ttl"
        removals = " REMOVE " + ", ".join(
            ["leaseOwner", "leaseUntil"] + [name for name in ("refreshToken", "refreshExpiresAt") if name not in item]
        )
        try:
            aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET " + assignments + removals,
                ConditionExpression="leaseOwner = :me",
                ExpressionAttributeNames={f"#{name}": name for name in [*item, "ttl"]},
                ExpressionAttributeValues=values,
            )
        except Exception as error:  # noqa: BLE001 - our token stays valid in memory even if not shared
            logger.warning("token not shared", key=self.key, error=type(error).__name__)

    def _share_refusal(self) -> None:
        """The refusal, for the requests of other instances waiting for this renewal (its lease released with it)."""
        try:
            self._end_lease("SET refusedAt = :at", {":at": {"N": repr(self._refused_at)}})
        except Exception as error:  # noqa: BLE001 - the waiting requests then try a login of their own
            logger.warning("token refusal not shared", key=self.key, error=type(error).__name__)

    def _share_failure(self, failure: GatewayError) -> None:
        """A login that failed, for the requests of other instances waiting for it (its lease released with it): its
        code only, which says nothing of a secret or a person."""
        failed = {":at": {"N": repr(clock.now())}, ":failure": {"M": {"code": {"S": failure.code}}}}
        try:
            self._end_lease("SET failedAt = :at, failure = :failure", failed)
        except Exception:  # noqa: BLE001 - the waiting requests then try a login of their own, as before
            self._release_lease()

    def _release_lease(self) -> None:
        with contextlib.suppress(Exception):  # the lease expires on its own anyway
            self._end_lease()

    def _end_lease(self, setting: str = "", values: dict[str, Any] | None = None) -> None:
        """Drop this instance's lease on the row (only if it still holds it), with `setting` written in the same
        update; what the table raises is the caller's."""
        aws.client("dynamodb").update_item(
            TableName=self.table_name,
            Key={"pk": {"S": self.key}},
            UpdateExpression=f"{setting} REMOVE leaseOwner, leaseUntil".lstrip(),
            ConditionExpression="leaseOwner = :me",
            ExpressionAttributeValues={":me": {"S": self._owner}, **(values or {})},
        )


def _says_the_provider_failed(failure: GatewayError) -> bool:
    """Whether a login's failure is the provider failing, for every request waiting for it: not the gateway's own
    fault, not this instance's open circuit (its own state: nothing was sent), not a rate limit (its pause is the
    caller's to honour, and the next login may pass), not a timeout at its own request's deadline."""
    if failure.gateway_fault or not isinstance(failure, ProviderFailed | ProviderTimeout):
        return False
    if isinstance(failure, ProviderCircuitOpen):
        return False
    left = clock.time_left()
    return not (isinstance(failure, ProviderTimeout) and left is not None and left < _DEADLINE_SLACK_SECONDS)


# A refusal or failure before the request asked, or none (absent, or of another type: a hand edit, as _time_of reads it)
_BEFORE_ASKED = "(attribute_not_exists({0}) OR NOT attribute_type({0}, :number) OR {0} < :asked)"


def _time_of(item: dict[str, Any] | None, name: str) -> float:
    """A time the row holds (epoch seconds), or none: one of another type (a hand edit) is as if absent, never a
    failure of every request of its provider."""
    try:
        return float((item or {})[name]["N"])
    except (KeyError, TypeError, ValueError):
        return float("-inf")
