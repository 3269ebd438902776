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
from kyc_gateway.observability import logger
from kyc_gateway.settings import get_settings

SecretT = TypeVar("SecretT", bound=BaseModel)
ResultT = TypeVar("ResultT")


# Secret strings by id, with when each was fetched (wall time: it also runs while a Lambda instance is frozen).
_FETCHED: dict[str, tuple[float, str | bytes]] = {}


# After a re-read that failed, the cached value is served this long before the next try (not a read per request
# into a Secrets Manager that is throttling or failing).
RETRY_AFTER_FAILED_READ_SECONDS = 10.0


def _fetch(secret_id: str, *, max_age: float, force_fetch: bool) -> str | bytes:
    cached = _FETCHED.get(secret_id)
    if cached and not force_fetch and clock.now() - cached[0] < max_age:
        return cached[1]
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as error:
        if cached and not force_fetch:
            # A re-read due by age only: the value held is still the secret's as far as anyone knows (a rotation is
            # read at the next success, and a provider refusing it forces a read), so a Secrets Manager outage takes
            # no route down with it, as AWS's own caching client does.
            code = error.response["Error"].get("Code") if isinstance(error, ClientError) else type(error).__name__
            logger.warning("secret re-read failed; the cached value serves meanwhile", error=code)
            _FETCHED[secret_id] = (clock.now() - max_age + min(max_age, RETRY_AFTER_FAILED_READ_SECONDS), cached[1])
            return cached[1]
        raise ConfigurationError("provider credentials are unavailable") from None
    value = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"]  # a version has one
    _FETCHED[secret_id] = (clock.now(), value)
    return value


_fetch.cache_clear = _FETCHED.clear  # type: ignore[attr-defined]  # a new instance starts with none


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
