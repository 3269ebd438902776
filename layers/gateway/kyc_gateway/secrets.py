"""Provider credentials from Secrets Manager through Powertools Parameters (cached per instance)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from kyc_gateway import aws
from kyc_gateway.errors import ConfigurationError, CredentialsRejected
from kyc_gateway.lazy import once

SecretT = TypeVar("SecretT", bound=BaseModel)
ResultT = TypeVar("ResultT")


@once
def _secrets_provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # lazy: not needed to reject a bad request

    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


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
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        max_age = int(os.environ.get("POWERTOOLS_PARAMETERS_MAX_AGE", "300"))
        try:
            raw = _secrets_provider().get(self.secret_id, max_age=max_age, force_fetch=force_fetch)
        except GetParameterError:
            raise ConfigurationError("provider credentials are unavailable") from None
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
