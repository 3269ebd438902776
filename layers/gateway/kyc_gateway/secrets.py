"""Provider credentials from Secrets Manager, cached per instance.

Fetched with the instance's botocore client rather than Powertools Parameters: importing that package loads its
AppConfig, SSM and DynamoDB providers too, about 8 ms of CPU on every cold start with boto3 already loaded, 3.7% of
the lightest first request (`make bench-copies`, docs/performance.md), for a cache this module keeps in a few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from kyc_gateway import aws, clock
from kyc_gateway.errors import ConfigurationError, CredentialsRejected
from kyc_gateway.observability import count, logger
from kyc_gateway.settings import get_settings

SecretT = TypeVar("SecretT", bound=BaseModel)
ResultT = TypeVar("ResultT")


# Secret strings by id, with when each was read (wall time: it also runs while a Lambda instance is frozen).
_FETCHED: dict[str, tuple[float, str | bytes]] = {}
# A re-read that failed: when the next is due, the value held serving meanwhile
_RETRY_AT: dict[str, float] = {}
# After a re-read that failed, the value held serves this long before the next try (not a read per request into a
# Secrets Manager that is throttling or failing), and at most this long past its max age: a rotated secret (a
# webhook token that leaked) is refused within max age plus this, whatever Secrets Manager does.
RETRY_AFTER_FAILED_READ_SECONDS = 10.0
MAX_STALE_SECONDS = 900.0


def _fetch(secret_id: str, *, max_age: float, force_fetch: bool) -> str | bytes:
    cached, now = _FETCHED.get(secret_id), clock.now()
    servable = cached is not None and not force_fetch and now - cached[0] < max_age + MAX_STALE_SECONDS
    if servable and (now - cached[0] < max_age or now < _RETRY_AT.get(secret_id, now)):
        return cached[1]
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as error:
        if servable:
            # A re-read due by age only: the value held is still the secret's as far as anyone knows (a provider
            # refusing it forces a read), so a Secrets Manager outage takes no route down with it, as AWS's own
            # caching client does.
            code = error.response["Error"].get("Code") if isinstance(error, ClientError) else type(error).__name__
            logger.warning("secret re-read failed; the cached value serves meanwhile", error=code)
            count("SecretReadFailures")  # a rotation is not seen meanwhile, and the value held serves a while only
            _RETRY_AT[secret_id] = now + RETRY_AFTER_FAILED_READ_SECONDS
            return cached[1]
        raise ConfigurationError("provider credentials are unavailable") from None
    value = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"]  # a version has one
    _FETCHED[secret_id] = (clock.now(), value)
    _RETRY_AT.pop(secret_id, None)
    return value


def _forget() -> None:
    _FETCHED.clear()
    _RETRY_AT.clear()


_fetch.cache_clear = _forget  # type: ignore[attr-defined]  # a new instance starts with none


class ProviderCredentials(Generic[SecretT]):
    """One provider's JSON secret, validated by `model`.

    `use` runs a call with the cached secret; when the provider rejects it (CredentialsRejected), the secret is
    re-fetched once, bypassing the cache, in case it was rotated, and the call runs again. A second rejection is
    reported as the provider refusing the gateway's credentials (502), never as the caller's 401.
    """

    def __init__(self, secret_id: str, model: type[SecretT]) -> None:
        self.secret_id = secret_id
        self.model = model

    def get(self, *, force_fetch: bool = False) -> SecretT:
        max_age = get_settings().secret_max_age_seconds
        raw = _fetch(self.secret_id, max_age=max_age, force_fetch=force_fetch)
        try:
            return self.model.model_validate_json(raw)
        except ValidationError:
            raise ConfigurationError("provider credentials are malformed") from None

    def use(self, call: Callable[[SecretT], ResultT]) -> ResultT:
        try:
            return call(self.get())
        except CredentialsRejected:
            pass
        try:
            return call(self.get(force_fetch=True))
        except CredentialsRejected as rejected:
            raise rejected.error from None
