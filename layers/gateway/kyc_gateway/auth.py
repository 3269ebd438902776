"""Calls made with a cached provider token: a 401 on that token means fetch a new one and retry once."""

from __future__ import annotations

from collections.abc import Callable

from kyc_gateway.errors import ProviderAuthFailed
from kyc_gateway.http import ProviderResponse
from kyc_gateway.token_cache import Token, TokenCache, TokenFetcher

Send = Callable[[str], ProviderResponse]


def call_with_token(
    tokens: TokenCache,
    fetch: TokenFetcher,
    send: Send,
    *,
    on_fresh_token_refused: Send | None = None,
) -> ProviderResponse:
    """Send with the cached token. When the provider refuses it (it expired early, or the provider forgot it),
    invalidate it everywhere, fetch a new one and send once more; a second refusal means the provider refuses
    the gateway itself (502), never the caller's 401.

    `on_fresh_token_refused` is tried once per token, with the same token, when the provider refuses a token it has
    just issued to this call: that token cannot be stale, so the way it was sent may be wrong (Signzy's header
    form). At most two tokens and four sends, then 502.
    """
    issued: set[str] = set()

    def fetch_new(previous: Token | None) -> Token:
        token = fetch(previous)
        issued.add(token.value)
        return token

    token = tokens.get(fetch_new)
    for attempt in range(2):
        response = send(token.value)
        if response.status != 401:
            return response
        if on_fresh_token_refused is not None and token.value in issued:
            response = on_fresh_token_refused(token.value)
            if response.status != 401:
                return response
        if attempt == 0:
            tokens.invalidate(token)
            token = tokens.get(fetch_new)
    raise ProviderAuthFailed(provider=response.provider, provider_status=401)
