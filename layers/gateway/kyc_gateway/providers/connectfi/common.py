"""What both sides of connectFi's webhooks share with its client: the provider's name, its identifiers and the
webhook URL's secret. Kept apart from the HTTP client so that the webhook receiver, the processor's parsing and the
stored-application route load no HTTP stack on a cold start."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

from kyc_gateway.lazy import once
from kyc_gateway.model import Model
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings

PROVIDER = "connectfi"
ConnectFiId = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=r"^[0-9a-zA-Z_]+$")]
CONNECTFI_ID = re.compile(r"[0-9a-zA-Z_]{1,36}")  # the same, for identifiers connectFi answers with
WEBHOOK_TOKEN_MIN_LENGTH = 32


class WebhookSecret(Model):
    token: str = Field(min_length=WEBHOOK_TOKEN_MIN_LENGTH)


def webhook_token() -> str:
    """The secret in the gateway's webhook URL (connectFi signs nothing)."""
    return _webhook_secret().get().token


@once
def _webhook_secret() -> ProviderCredentials[WebhookSecret]:
    return ProviderCredentials(get_settings().require("connectfi_webhook_secret_id"), WebhookSecret)
