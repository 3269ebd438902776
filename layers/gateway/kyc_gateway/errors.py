"""One error hierarchy for every route and provider, mapped to the one error envelope in one place.

`message` is always the gateway's own fixed text for the code: provider messages can carry personal data
(CDP puts customer numbers in them), so they are never echoed back or logged.
"""

from __future__ import annotations

from typing import Any, ClassVar

# At most this many `details` in an answer, the last saying how many more there were: a body of 80,000 unknown keys,
# or a provider's refusal listing as many, would otherwise answer megabytes (over Lambda's 6 MB response: no answer).
DETAILS_LIMIT = 50


class GatewayError(Exception):
    status = 500
    code = "internal_error"
    message = "The gateway failed to handle the request"
    provider_side = False  # a provider failing, timing out or limiting us: not the gateway's own fault

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        provider: str | None = None,
        provider_status: int | None = None,
        provider_code: str | int | None = None,
        provider_request_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
        outcome_unknown: bool = False,
        write_done: bool = False,
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        self.provider = provider
        self.provider_status = provider_status
        self.provider_code = None if provider_code is None else str(provider_code)
        self.provider_request_id = provider_request_id
        self.details = details or []  # all of them, for the code that reads them; an answer lists DETAILS_LIMIT
        # A write that may or may not have reached the provider (timed out, cut off after sending): a retry
        # under the same Idempotency-Key must not send it again.
        self.outcome_unknown = outcome_unknown
        # The write was done at the provider and what failed came after it (a document generated, its upload
        # failed): a retry under the same Idempotency-Key gets this same answer, never the write again.
        self.write_done = write_done
        super().__init__(self.message)

    def record(self) -> dict[str, Any]:
        """What a replay of this error needs (write_done errors are stored under their Idempotency-Key)."""
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "provider": self.provider,
            "providerStatus": self.provider_status,
            "providerCode": self.provider_code,
            "providerRequestId": self.provider_request_id,
            "details": _capped(self.details),
        }

    @classmethod
    def replayed(cls, record: dict[str, Any]) -> GatewayError:
        error = cls(
            record["message"],
            code=record["code"],
            provider=record["provider"],
            provider_status=record["providerStatus"],
            provider_code=record["providerCode"],
            provider_request_id=record["providerRequestId"],
            details=record["details"],
        )
        error.status = record["status"]
        error.replayed_answer = True
        return error

    replayed_answer = False  # the stored answer of an earlier request under the same Idempotency-Key
    retry_after_seconds: int | None = None  # a rate limit's pause the provider asked for, said to the caller too

    @property
    def gateway_fault(self) -> bool:
        """The gateway's own fault (a bug, its configuration, its AWS resources), neither the caller's (4xx) nor a
        provider's: what the GatewayFaults metric counts and each deploy's rollback alarms watch. Answering a
        stored answer again is the gateway working, whatever that answer was."""
        return self.status >= 500 and not (self.provider_side or self.replayed_answer)

    @property
    def failing_provider(self) -> str | None:
        """The provider this answer says is failing now, for its ProviderFailures and TokenFailures alarms: its own
        failure, timeout or unreachability; never a refusal it documents (the caller's request refused: 404, 422),
        nor a stored answer given again under its Idempotency-Key (nothing was asked of the provider)."""
        return self.provider if self.provider_side and not self.replayed_answer else None

    def envelope(self, correlation_id: str) -> dict[str, Any]:
        fields = {name: value for name, value in self.record().items() if name != "status"}
        return {"error": {**fields, "correlationId": correlation_id}}


class RequestNotBuilt(GatewayError):
    """The gateway could not encode the request it was about to send (nothing was sent)."""

    message = "The gateway could not build the provider request"


class ConfigurationError(GatewayError):
    code = "configuration_error"
    message = "The gateway is not configured for this operation"


class RequestValidationError(GatewayError):
    status = 400
    code = "validation_error"
    message = "The request is not valid"


class RequestTooLarge(GatewayError):
    status = 413
    code = "request_too_large"
    message = "The request body is too large"

    @classmethod
    def over(cls, max_bytes: int) -> RequestTooLarge:
        """The refusal of a body longer than `max_bytes`, its details as every route's."""
        return cls(details=[{"field": "body", "issue": f"must be at most {max_bytes} bytes", "type": "body"}])


class SubjectNotFound(GatewayError):
    status = 404
    code = "not_found"
    message = "The provider does not know the requested subject"
    # Each code's own fixed text: the kind of subject, never its value.
    MESSAGES: ClassVar[dict[str, str]] = {
        "customer_not_found": "Customer not found",
        "application_not_found": "Application not found",
        "kra_pin_not_found": "KRA PIN not found",
    }

    def __init__(self, message: str | None = None, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message if message is not None else self.MESSAGES.get(code or ""), code=code, **fields)


class ProviderRejected(GatewayError):
    """The provider understood the request and refused it on business grounds."""

    status = 422
    code = "provider_rejected"
    message = "The provider refused the request"


class ProviderRateLimited(GatewayError):
    status = 429
    provider_side = True
    code = "rate_limited"
    message = "The provider is rate limiting requests; retry later"


class ProviderFailed(GatewayError):
    status = 502
    provider_side = True
    code = "provider_error"
    message = "The provider failed to handle the request"


class ProviderBadResponse(ProviderFailed):
    code = "provider_bad_response"
    message = "The provider answered something the gateway cannot use"


class ProviderUnavailable(ProviderFailed):
    code = "provider_unavailable"
    message = "The provider could not be reached"


class ProviderCircuitOpen(ProviderUnavailable):
    code = "circuit_open"
    message = "The provider keeps failing; the gateway pauses calls to it for a moment"


class ProviderAuthFailed(ProviderFailed):
    """The provider rejected the gateway's own credentials: never the caller's 401."""

    code = "provider_auth_failed"
    message = "The provider rejected the gateway's credentials"


class ProviderTimeout(GatewayError):
    status = 504
    provider_side = True
    code = "provider_timeout"
    message = "The provider did not answer in time"


class CredentialsRejected(Exception):
    """Raised inside a provider client when the provider refuses our secret; triggers one re-read of it."""

    def __init__(self, error: ProviderAuthFailed) -> None:
        super().__init__(error.message)
        self.error = error


def _capped(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`details` as an answer lists them: at most DETAILS_LIMIT, the last one then counting those left out (a list
    capped once is capped for good: a stored answer replayed is listed as it was first answered)."""
    if len(details) <= DETAILS_LIMIT:
        return details
    more = len(details) - (DETAILS_LIMIT - 1)
    return [*details[: DETAILS_LIMIT - 1], {"field": "body", "issue": f"and {more} more, not listed", "type": "more"}]
