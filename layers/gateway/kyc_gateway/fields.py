"""Validated field types shared by the providers' request models: types and documented formats only.

Membership of lists the provider owns (CDP's master data: countries, currencies) is the provider's to rule on;
the gateway checks the format and forwards.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, PrivateAttr, StringConstraints, model_validator

from kyc_gateway.model import Model


def _calendar_date(value: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date in YYYY-MM-DD form") from None
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64-encoded data") from None
    return value


# Checked as sent, never normalised: bodies with these fields are forwarded to the provider as the caller sent them.
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # the format; membership is the provider's
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_date)]
_MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
MediaType = Annotated[str, StringConstraints(pattern=rf"^{_MEDIA_NAME}/{_MEDIA_NAME}$")]  # e.g. image/jpeg
Base64Data = Annotated[str, AfterValidator(_base64)]


def text(max_length: int | None = None, min_length: int = 0) -> Any:
    """A string, optionally bounded."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length)]


class ForwardedAsSent(Model):
    """A request model whose validated input is kept (`sent`), to be forwarded to the provider unchanged."""

    _sent: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_input(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, dict):
            model._sent = data
        return model

    @property
    def sent(self) -> dict[str, Any]:
        return self._sent
