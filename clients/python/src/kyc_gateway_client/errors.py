"""The gateway's error envelope as exceptions: one class per kind of answer, each carrying the envelope's fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests


class GatewayError(Exception):
    """An error answer of the gateway. `code` is the envelope's (`validation_error`, `provider_timeout`...);
    `provider`, `provider_status`, `provider_code` and `provider_request_id` say what the provider answered;
    `correlation_id` is the one the request carried (or the gateway's request id). For a write: `idempotency_key`
    the key it was sent under, and `replayed` True when this is the stored answer of an earlier request under that
    key (a failure after the write was done, given again), else False (None: not a write, or refused unsent)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        provider: str | None = None,
        provider_status: int | None = None,
        provider_code: str | None = None,
        provider_request_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.provider = provider
        self.provider_status = provider_status
        self.provider_code = provider_code
        self.provider_request_id = provider_request_id
        self.details = details or []
        self.correlation_id = correlation_id
        self.idempotency_key: str | None = None
        self.replayed: bool | None = None

    def keep_provider_of(self, earlier: requests.Response, correlation_id: str) -> None:
        """Take what the provider answered from an earlier attempt's error answer, when this answer has none."""
        if self.provider is not None or earlier.status_code < 400:
            return
        try:
            said = error_from(earlier.status_code, json_answer(earlier, correlation_id), correlation_id)
        except GatewayError:  # not an answer of the gateway's: nothing of the provider's to keep
            return
        self.provider, self.provider_status = said.provider, said.provider_status
        self.provider_code, self.provider_request_id = said.provider_code, said.provider_request_id


class InvalidRequest(GatewayError):
    """400, 413: the request was refused before any provider call; fix it, do not retry it. Status 0: the client
    refused it before sending (a body that is not JSON, an empty path parameter, a correlation id that cannot be
    sent as a header, an Idempotency-Key the gateway would not take)."""


class NotAuthorized(GatewayError):
    """401 or 403 from API Gateway: the request was not signed or not validly signed (401), or the signer may not
    call the API (403)."""


class NotFound(GatewayError):
    """404: the provider does not know the subject (customer, application...), or no state is stored."""


class IdempotencyConflict(GatewayError):
    """409: the Idempotency-Key was used with another body, its first request is still running, or that request's
    outcome is unknown (`code` says which; `details` say how to find out)."""


class ProviderRejected(GatewayError):
    """422: the provider refused the request on business grounds."""


class RateLimited(GatewayError):
    """429: still rate limited after the client's own retries."""


class ProviderFailed(GatewayError):
    """500, 502, 503: the gateway or the provider failed (after the client's own retries where they were safe)."""


class ProviderTimeout(GatewayError):
    """504: the provider did not answer in time; for a write, its outcome may be unknown."""


class TransportError(GatewayError):
    """The gateway could not be reached (connection refused, reset, timed out) within the client's time budget, or
    the exchange failed on the wire (an answer cut short, a request the HTTP library refused to send). Code
    `unexpected_answer`, `status` the answer's: an answer that is not the gateway's (a redirect, never followed; a
    success that is not JSON; a 404 without the gateway's envelope), not retried: check base_url."""


class ClientMisconfigured(GatewayError):
    """The client cannot call as configured; nothing was sent. `code` says why (`missing_region`...)."""


class InvalidBaseUrl(ClientMisconfigured):
    """The gateway's URL is missing or unusable: not http(s), without a host, or with a query, a fragment or
    credentials of its own."""


class CredentialsUnavailable(ClientMisconfigured):
    """Signing needs AWS credentials and none could be had: none in the standard chain, or its source failed (a
    profile that does not exist, an expired SSO session, a role that could not be assumed)."""


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: NotAuthorized,
    403: NotAuthorized,
    404: NotFound,
    409: IdempotencyConflict,
    413: InvalidRequest,
    422: ProviderRejected,
    429: RateLimited,
    504: ProviderTimeout,
}


def error_from(status: int, body: Any, correlation_id: str | None) -> GatewayError:
    """The exception for an error answer: the gateway's envelope, or API Gateway's own `{"message": ...}`."""
    envelope = body.get("error") if isinstance(body, dict) else None
    kind = _BY_STATUS.get(status, ProviderFailed if status >= 500 else GatewayError)
    if not isinstance(envelope, dict):
        message = body.get("message") if isinstance(body, dict) else None
        if status == 404:  # the gateway's 404s (a subject the provider does not know) always carry its envelope
            reason = f"a 404 without the gateway's error envelope ({message or 'no message'}): check base_url"
            return TransportError(status, "unexpected_answer", reason, correlation_id=correlation_id)
        return kind(status, "gateway_error", str(message or "no error envelope"), correlation_id=correlation_id)
    return kind(
        status,
        str(envelope.get("code") or "unknown"),
        str(envelope.get("message") or ""),
        provider=envelope.get("provider"),
        provider_status=envelope.get("providerStatus"),
        provider_code=envelope.get("providerCode"),
        provider_request_id=envelope.get("providerRequestId"),
        details=envelope.get("details") if isinstance(envelope.get("details"), list) else [],
        correlation_id=envelope.get("correlationId") or correlation_id,
    )


def json_answer(reply: requests.Response, correlation_id: str) -> Any:
    """The answer's JSON body. A redirect, or a success that is not a JSON object, is not the gateway's answer (a
    proxy's, or a page under a base URL that is not the API's): TransportError with its status, code
    `unexpected_answer`. An error that is not JSON is its status's error, naming what it was."""
    status, content_type = reply.status_code, reply.headers.get("Content-Type") or "no Content-Type"
    if 300 <= status < 400:
        host = _host_of(reply.headers.get("Location"))
        reason = f"a {status} redirect to {host}, not followed: not the gateway's answer (check base_url)"
        raise TransportError(status, "unexpected_answer", reason, correlation_id=correlation_id)
    try:
        body = reply.json()
    except ValueError:  # requests' JSONDecodeError, and a body that is not text in its declared charset
        what = f"a {status} answer that is not JSON ({content_type})"
    except RecursionError:  # JSON nested deeper than Python's parser goes: no answer of the gateway's
        what = f"a {status} answer nested too deeply to read ({content_type})"
    else:
        if isinstance(body, dict) or status >= 400:
            return body
        what = f"a {status} answer that is JSON but not an object"
    if status >= 400:
        return {"message": what}  # read as API Gateway's own answers are: the status's error, code gateway_error
    reason = f"{what}: not the gateway's answer (check base_url)"
    raise TransportError(status, "unexpected_answer", reason, correlation_id=correlation_id)


def _host_of(location: str | None) -> str:
    """Where a redirect points, by host only (the rest of the URL may hold what should not be logged)."""
    if not location:
        return "nowhere (no Location)"
    try:
        return urlsplit(location).hostname or "this host"  # a relative Location
    except ValueError:
        return "an unreadable Location"
