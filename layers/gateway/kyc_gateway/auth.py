"""Calls made with a cached provider token: a 401 on that token means fetch a new one and retry once."""

from __future__ import annotations

from collections.abc import Callable

from kyc_gateway.errors import ProviderAuthFailed
from kyc_gateway.http import ProviderResponse
from kyc_gateway.token_cache import TokenCache, TokenFetcher


def call_with_token(
    tokens: TokenCache,
    fetch: TokenFetcher,
    send: Callable[[str], ProviderResponse],
) -> ProviderResponse:
    """Send with the cached token. When the provider refuses it (it expired early, or the provider forgot it),
    invalidate it everywhere, fetch a new one and send once more; a second refusal means the provider refuses
    the gateway itself (502), never the caller's 401."""
    token = tokens.get(fetch)
    response = send(token.value)
    if response.status != 401:
        return response
    tokens.invalidate(token)
    response = send(tokens.get(fetch).value)
    if response.status == 401:
        raise ProviderAuthFailed(provider=response.provider, provider_status=401)
    return response
