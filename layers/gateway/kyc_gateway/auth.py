"""Calls made with a cached provider token: a 401 on that token means fetch a new one and retry once."""

from __future__ import annotations

from collections.abc import Callable

from kyc_gateway.errors import ProviderAuthFailed
from kyc_gateway.http import ProviderResponse
from kyc_gateway.token_cache import TokenCache, TokenFetcher

Send = Callable[[str], ProviderResponse]


def call_with_token(
    tokens: TokenCache,
    fetch: TokenFetcher,
    send: Send,
    *,
    on_token_refused: Send | None = None,
) -> ProviderResponse:
    """Send with the cached token. When the provider refuses it (it expired early, or the provider forgot it),
    invalidate it everywhere, fetch a new one and send once more; a second refusal means the provider refuses
    the gateway itself (502), never the caller's 401.

    `on_token_refused`, when given, is a second way to send a token (Signzy's header form while it is unknown):
    it is tried once per token, with the same token, before that token is given up, so a cold instance that
    finds a good token in the table does not discard it for being sent the wrong way. At most two tokens and
    four sends, then 502.
    """
    token = tokens.get(fetch)
    for attempt in range(2):
        response = send(token.value)
        if response.status != 401:
            return response
        if on_token_refused is not None:
            response = on_token_refused(token.value)
            if response.status != 401:
                return response
        if attempt == 0:
            tokens.invalidate(token)
            token = tokens.get(fetch)
    raise ProviderAuthFailed(provider=response.provider, provider_status=401)
