"""What every provider client shares: its HTTP client, credentials and token cache; calls made with a token; the
answers every provider gives the same meaning (not JSON, 429, our credentials refused, anything undocumented);
and one client per Lambda instance.

A provider module subclasses `ProviderClient`, names its secret model, implements `log_in` if it uses tokens,
and maps its own documented codes before falling back on `undocumented`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from kyc_gateway.errors import (
    GatewayError,
    ProviderAuthFailed,
    ProviderBadResponse,
    ProviderFailed,
    ProviderRateLimited,
)
from kyc_gateway.http import ProviderHttp, ProviderResponse
from kyc_gateway.lazy import once
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, TokenCache, cache_key

Send = Callable[[str], ProviderResponse]
ClientT = TypeVar("ClientT", bound="ProviderClient")


class ProviderClient:
    """One provider, as seen from one Lambda instance (keep-alive session, cached secret, cached token)."""

    name: ClassVar[str]  # the provider registry's name
    secret_model: ClassVar[type[BaseModel]]
    uses_tokens: ClassVar[bool] = False

    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.base_url(self.name)
        self.http = ProviderHttp(self.name, base_url, settings)
        self.credentials = ProviderCredentials(settings.secret_id(self.name), self.secret_model)
        self.tokens = (
            TokenCache(cache_key(self.name, base_url), settings.require("token_table_name"))
            if self.uses_tokens
            else None
        )

    @classmethod
    def instance(cls: type[ClientT]) -> ClientT:
        """The instance's client, built on first use (a request failing validation never pays for it)."""
        return _instance_of(cls)

    # --- tokens --------------------------------------------------------------------------------------------------

    def log_in(self, secret: Any, previous: Token | None) -> Token:
        """A new token from the provider; `previous` (if any) may carry a refresh token. Raise CredentialsRejected
        when the provider refuses `secret`: it is then re-read once (rotation) before the call fails with 502."""
        raise NotImplementedError

    def with_token(self, send: Send, *, on_token_refused: Send | None = None) -> ProviderResponse:
        """Send with the cached token. When the provider refuses it (it expired early, or the provider forgot
        it), invalidate it everywhere, log in again and send once more; a second refusal means the provider refuses
        the gateway itself (502), never the caller's 401.

        `on_token_refused`, when given, is a second way to send a token (Signzy's header form while it is not yet
        known): it is tried once per token, with the same token, before that token is given up, so a cold instance
        that finds a good token in the table does not discard it for being sent the wrong way. At most two tokens
        and four sends, then 502."""
        assert self.tokens is not None, f"{self.name} does not use tokens"  # noqa: S101 - a programming error
        token = self.tokens.get(self._new_token)
        for attempt in range(2):
            response = send(token.value)
            if response.status != 401:
                return response
            if on_token_refused is not None:
                response = on_token_refused(token.value)
                if response.status != 401:
                    return response
            if attempt == 0:
                self.tokens.invalidate(token)
                token = self.tokens.get(self._new_token)
        raise ProviderAuthFailed(provider=self.name, provider_status=401)

    def _new_token(self, previous: Token | None) -> Token:
        return self.credentials.use(lambda secret: self.log_in(secret, previous))


@once
def _instance_of(kind: type[ClientT]) -> ClientT:
    return kind()


# --- answers -------------------------------------------------------------------------------------------------------


def json_body(response: ProviderResponse) -> dict[str, Any]:
    """The answer as a JSON object; an HTML error page, truncated JSON or a list is 502 `provider_bad_response`."""
    body = response.body
    if body is None:
        raise response.error(ProviderBadResponse)
    return body


def undocumented(response: ProviderResponse, provider_code: str | int | None = None) -> GatewayError:
    """An answer no documented provider code explains, by what its HTTP status means everywhere: a rate limit
    (429, or the provider's own signal for one) is 429; a 401/403 is the provider refusing the gateway's own
    credentials (502, never the caller's 401); anything else, a framework's 404 for a route miss included, is the
    provider (or our configuration of it) failing: 502."""
    if response.throttled:
        return response.error(ProviderRateLimited, provider_code=provider_code)
    if response.status in (401, 403):
        return response.error(ProviderAuthFailed, provider_code=provider_code)
    return response.error(ProviderFailed, provider_code=provider_code)
