"""Request models forwarded to the provider as the caller sent them."""

from __future__ import annotations

from typing import Any

from pydantic import PrivateAttr, model_validator

from kyc_gateway.model import Model


class RawJson(bytes):
    """A JSON document as the caller wrote it, sent on byte for byte (kyc_gateway.http): re-encoding it would rewrite
    its numbers (`1.10` as `1.1`, `1E2` as `100.0`, digits beyond a double's precision lost)."""


class ForwardedAsSent(Model):
    """A request model whose validated input is kept (`sent`), to be forwarded to the provider unchanged: as the
    caller's own bytes when the API edge kept them (`keep_raw`), else as the parsed object."""

    _sent: dict[str, Any] = PrivateAttr(default_factory=dict)
    _raw: RawJson | None = PrivateAttr(default=None)

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

    def keep_raw(self, raw: bytes) -> None:
        """The request body this model was read from (a strict JSON object: kyc_gateway.api)."""
        self._raw = RawJson(raw)

    @property
    def forwarded(self) -> dict[str, Any] | RawJson:
        """What the provider gets: the caller's bytes, or the parsed object when there are none."""
        return self._raw if self._raw is not None else self._sent
