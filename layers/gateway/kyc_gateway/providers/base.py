"""What every provider client shares: its HTTP client, credentials and token cache; calls made with a token; the
answers every provider gives the same meaning (not JSON, 429, our credentials refused, anything undocumented);
and one client per Lambda instance.

A provider module subclasses `ProviderClient`, names its secret model, implements `log_in` if it uses tokens,
and maps its own documented codes before falling back on `undocumented`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, StringConstraints, ValidationError

from kyc_gateway.errors import (
    CredentialsRejected,
    GatewayError,
    ProviderAuthFailed,
    ProviderBadResponse,
    ProviderFailed,
    ProviderRateLimited,
)
from kyc_gateway.http import ProviderHttp
from kyc_gateway.lazy import once
from kyc_gateway.model import validation_details
from kyc_gateway.observability import logger
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import HEADER_TOKEN, Token, TokenCache, cache_key

Send = Callable[[str], ProviderResponse]
HeaderToken = Annotated[str, StringConstraints(pattern=HEADER_TOKEN)]  # a login answer's token (token_cache)
ClientT = TypeVar("ClientT", bound="ProviderClient")
ModelT = TypeVar("ModelT", bound=BaseModel)


class ProviderClient:
    """One provider, as seen from one Lambda instance (keep-alive session, cached secret, cached token)."""

    name: ClassVar[str]  # the provider registry's name
    secret_model: ClassVar[type[BaseModel]]
    uses_tokens: ClassVar[bool] = False
    token_requests_per_renewal: ClassVar[int] = 1  # at most, in one renewal (CDP: a refresh, then a password grant)

    def __init__(self) -> None:
        settings = get_settings()
        base_url = settings.base_url(self.name)
        self.http = ProviderHttp(self.name, base_url, settings)
        self.credentials = ProviderCredentials(settings.secret_id(self.name), self.secret_model)
        self.tokens = (
            TokenCache(
                cache_key(self.name, base_url),
                settings.require("token_table_name"),
                # each token request within the provider budget, the whole set twice: once more with the secret
                # read again when the provider refuses it (ProviderCredentials.use)
                renewal_seconds=2 * self.token_requests_per_renewal * settings.provider_budget_seconds,
            )
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

    def with_token(self, send: Send) -> ProviderResponse:
        """Send with the cached token. When the provider refuses it (it expired early, or the provider forgot
        it), invalidate it everywhere, log in again and send once more; a second refusal means the provider refuses
        the gateway itself (502), never the caller's 401."""
        assert self.tokens is not None, f"{self.name} does not use tokens"  # noqa: S101 - a programming error
        token = self.tokens.get(self._new_token)
        for attempt in range(2):
            response = send(token.value)
            if response.status != 401:
                return response
            if attempt == 0:
                self.tokens.invalidate(token)
                token = self.tokens.get(self._new_token)
        raise response.error(ProviderAuthFailed, provider_code=self.error_code(response.body or {}))

    def error_code(self, body: dict[str, Any]) -> str | int | None:
        """The provider's own error code in an answer's body, where its error shape has one."""
        return None

    def _new_token(self, previous: Token | None) -> Token:
        return self.credentials.use(lambda secret: self.log_in(secret, previous))

    def token_answer(
        self,
        response: ProviderResponse,
        model: type[ModelT],
        *,
        refused: tuple[int, ...] = (401, 403),
        code: Callable[[dict[str, Any]], str | None] = lambda body: None,
    ) -> ModelT:
        """A token endpoint's answer, validated by `model`. A `refused` status is the provider refusing our
        credentials (the secret is re-read once, then 502), whatever the body; an answer that is not JSON or not of
        `model`'s shape is 502 `provider_bad_response`; any other failure is `undocumented`. `code` reads the
        provider's own error code from the body."""
        body = response.body or {}
        if response.status in refused:
            raise CredentialsRejected(response.error(ProviderAuthFailed, provider_code=code(body)))
        body = json_body(response)
        if response.status != 200:
            raise undocumented(response, code(body))
        try:
            return model.model_validate(body)
        except ValidationError as error:  # which field, never its value (a token)
            raise response.error(ProviderBadResponse, details=validation_details(error)) from None

    def sender(
        self, path: str, operation: str, body: Any, *, idempotent: bool, header: Callable[[str], dict[str, str]]
    ) -> Send:
        """Sends `body` to `path` with a token, placed in the headers by `header`."""

        def send(token: str) -> ProviderResponse:
            headers = {**header(token), "Accept": "application/json"}
            return self.http.post(path, operation=operation, idempotent=idempotent, json_body=body, headers=headers)

        return send


@once
def _instance_of(kind: type[ClientT]) -> ClientT:
    return kind()


# --- answers -------------------------------------------------------------------------------------------------------


def json_body(response: ProviderResponse) -> dict[str, Any]:
    """The answer as a JSON object; an HTML error page, truncated JSON or a list is 502 `provider_bad_response`
    (with the write's outcome unknown when the provider answered it 2xx), unless its status says what it is
    whatever the body: a rate limit (429) or our credentials refused (401/403), as `undocumented` maps them."""
    body = response.body
    if body is None:
        if response.throttled or response.status in _CREDENTIALS_REFUSED:  # (a 429 is always `throttled`)
            raise undocumented(response)
        raise response.unusable(ProviderBadResponse)
    return body


_CREDENTIALS_REFUSED = frozenset({401, 403})


def undocumented(
    response: ProviderResponse, provider_code: str | int | None = None, *, status: int | None = None
) -> GatewayError:
    """An answer no documented provider code explains, by what its status means everywhere (the HTTP status, or
    `status`, the one a provider puts in its body): a rate limit (429, or the provider's own signal for one) is
    429; a 401/403 is the provider refusing the gateway's own credentials (502, never the caller's 401); anything
    else, a framework's 404 for a route miss included, is the provider (or our configuration of it) failing: 502.
    A provider maps its own documented codes, and its documented "not found", before falling back on this. A write
    the provider answered 2xx without its documented success has an unknown outcome."""
    statuses = {response.status, status}
    if response.throttled or 429 in statuses:
        return response.unusable(ProviderRateLimited, provider_code)
    if statuses & {401, 403}:
        return response.unusable(ProviderAuthFailed, provider_code)
    return response.unusable(ProviderFailed, provider_code)


class FieldSpelling:
    """A body field a provider's documents spell two ways, of which it reads one. Mode `auto` sends the first
    spelling and, once the provider has read the other, that one from then on; a spelling as the mode pins it."""

    def __init__(self, provider: str, spellings: tuple[str, str], mode: str, *, settled_message: str) -> None:
        self.provider, self.spellings, self.settled_message = provider, spellings, settled_message
        self.auto = mode == "auto"
        self.first = spellings[0] if self.auto else mode

    def other(self, field: str) -> str:
        return self.spellings[1] if field == self.spellings[0] else self.spellings[0]

    def read(self, field: str) -> None:
        """The provider read `field` (logged, as `settled_message`, when the spelling sent first changes)."""
        if field != self.first:
            self.first = field
            logger.info(self.settled_message, provider=self.provider, field=field)
