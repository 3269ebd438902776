"""Request models forwarded to the provider as the caller sent them."""

from __future__ import annotations

from typing import Any

from pydantic import PrivateAttr, model_validator

from kyc_gateway.model import Model


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
