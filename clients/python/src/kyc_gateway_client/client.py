"""The gateway's routes as typed methods: SigV4-signed requests, Idempotency-Keys on writes, safe retries."""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import botocore.session
import requests
import urllib3.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from kyc_gateway_client.answers import (
    ApplicationAnswer,
    AuditSearchAnswer,
    CustomerLookupAnswer,
    DocumentAnswer,
    KraPinAnswer,
    OnboardingAnswer,
    RepushAnswer,
    StoredApplication,
    UpdateAnswer,
)
from kyc_gateway_client.checks import (
    check_timing,
    header_value,
    in_clear_to_another_host,
    purpose_value,
    usable_base_url,
)
from kyc_gateway_client.errors import (
    ClientMisconfigured,
    CredentialsUnavailable,
    InvalidBaseUrl,
    InvalidRequest,
    TransportError,
    error_from,
    json_answer,
)
from kyc_gateway_client.models import (
    CustomerLookupRequest,
    DocumentRequest,
    IdentificationRequest,
    KraPinRequest,
    OnboardingRequest,
    RepushRequest,
    SearchRequest,
    StatusRequest,
    UpdateRequest,
)

# Answers worth another attempt: rate limited, or a failure in front of or at the provider. A write is retried under
# the same Idempotency-Key, so the gateway never does it twice: a retry of a write whose outcome is unknown is
# answered 409 idempotency_outcome_unknown, never sent again.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Failures on the wire worth another attempt: the gateway not reached, or its answer cut short. A write is safe to
# send again under its Idempotency-Key.
RETRYABLE_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
# The longest the gateway takes to answer: API Gateway's 29 s integration timeout (each function times out within
# it), and a second for the answer to arrive. A retry is sent only if it can wait that long within the budget.
GATEWAY_ANSWERS_WITHIN_SECONDS = 30.0
_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+")  # eu-west-1, us-gov-west-1, eusc-de-east-1


def _as_signed(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """requests' auth that leaves the request as signed: given any auth, requests looks up no ~/.netrc entry, whose
    Basic credentials would replace the SigV4 signature (and go to AWS)."""
    return request


Body = TypeVar("Body")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    write: bool  # takes an Idempotency-Key


# The caller routes (the webhook route is connectFi's), by the client method serving each.
ROUTES: dict[str, Route] = {
    "cladfy_krapin": Route("POST", "/cladfy/krapin", write=False),
    "signzy_repush": Route("POST", "/signzy/onboardings/repush", write=True),
    "cdp_customer_lookup": Route("POST", "/cdp/customers/lookup", write=False),
    "cdp_onboard_customer": Route("POST", "/cdp/customers", write=True),
    "connectfi_identification": Route("POST", "/connectfi/identification", write=True),
    "connectfi_status": Route("POST", "/connectfi/status", write=False),
    "connectfi_documents": Route("POST", "/connectfi/documents", write=True),
    "connectfi_update": Route("POST", "/connectfi/update", write=True),
    "connectfi_application": Route("GET", "/connectfi/applications/{applicationId}", write=False),
    "audit_search": Route("POST", "/audit/search", write=False),  # compliance roles only (AuditSearchPolicy)
}


@dataclass(frozen=True)
class Response(Generic[Body]):
    """A successful answer: the body (the provider's, unchanged, or the gateway's own), typed by the route's success
    schema (kyc_gateway_client.answers), the correlation id, and for writes the Idempotency-Key sent and whether the
    answer was replayed from an earlier request with it."""

    status: int
    body: Body
    correlation_id: str | None
    idempotency_key: str | None = None
    replayed: bool | None = None
    attempts: int = 1


class GatewayClient:
    """A client of one deployment of the gateway.

    `base_url` (or KYC_GATEWAY_URL) is the API's URL with its stage, e.g. the stack output ApiUrl. Requests are
    signed with SigV4 for `execute-api` in `region` (or AWS_REGION / AWS_DEFAULT_REGION) with the standard AWS
    credential chain (environment, profile, SSO, container or instance role), unless `sign` is False (the local
    stack). Answers 429, 502, 503 and 504 and connection failures are retried with exponential backoff and full
    jitter, honouring Retry-After, within `budget_seconds` in all (a retry only when a whole attempt still fits: the
    answer in hand is raised otherwise); other answers are never retried.

    Every failure is a `GatewayError`: an unusable URL raises `InvalidBaseUrl` here, missing credentials
    `CredentialsUnavailable` at the first signed call, and a gateway not reached `TransportError`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        region: str | None = None,
        sign: bool = True,
        credentials: Any = None,
        timeout: tuple[float, float] = (3.05, 30.0),
        budget_seconds: float = 60.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.25,
        backoff_cap_seconds: float = 8.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = usable_base_url(base_url or os.environ.get("KYC_GATEWAY_URL"))
        if sign and in_clear_to_another_host(self.base_url):
            # the signed headers and the body (personal data) would cross the network in clear
            raise InvalidBaseUrl(
                0,
                "invalid_base_url",
                "signed requests go over https:// only (http:// is for a gateway on this machine)",
            )
        check_timing(timeout, budget_seconds, max_attempts, backoff_seconds, backoff_cap_seconds)
        self._aws: botocore.session.Session | None = None  # the standard AWS configuration, read once when needed
        self.region = region or os.environ.get("AWS_REGION") or (self._configured_region() if sign else None)
        if sign and not self.region:
            raise ClientMisconfigured(
                0, "missing_region", "the gateway's region: pass region, set AWS_REGION or a profile's region"
            )
        if sign and not (isinstance(self.region, str) and _REGION.fullmatch(self.region)):
            # signed into the request's credential scope: a newline or a number would fail in the HTTP stack
            raise ClientMisconfigured(0, "invalid_region", "the gateway's region must be a name such as eu-west-1")
        self.sign = sign
        self._credentials = credentials
        self.timeout = timeout
        self.budget_seconds = budget_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.session = session or requests.Session()
        self._sleep, self._clock = sleep, clock

    # --- the routes ---------------------------------------------------------------------------------------------

    def cladfy_krapin(
        self, request: KraPinRequest, *, correlation_id: str | None = None, purpose: str | None = None
    ) -> Response[KraPinAnswer]:
        """Cladfy KRA PIN details (Kenya)."""
        return self._call("cladfy_krapin", request, correlation_id=correlation_id, purpose=purpose)

    def signzy_repush(
        self,
        request: RepushRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
    ) -> Response[RepushAnswer]:
        """Signzy EzKRA: re-push an investor onboarding to the KRA (India)."""
        return self._call(
            "signzy_repush", request, idempotency_key=idempotency_key, correlation_id=correlation_id, purpose=purpose
        )

    def cdp_customer_lookup(
        self, request: CustomerLookupRequest, *, correlation_id: str | None = None, purpose: str | None = None
    ) -> Response[CustomerLookupAnswer]:
        """CDP: look a customer up by id number and type (UAE)."""
        return self._call("cdp_customer_lookup", request, correlation_id=correlation_id, purpose=purpose)

    def cdp_onboard_customer(
        self,
        request: OnboardingRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
    ) -> Response[OnboardingAnswer]:
        """CDP: onboard an individual customer (UAE)."""
        return self._call(
            "cdp_onboard_customer",
            request,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            purpose=purpose,
        )

    def connectfi_identification(
        self,
        request: IdentificationRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
    ) -> Response[ApplicationAnswer]:
        """connectFi: start a KYC/KYB identification (US)."""
        return self._call(
            "connectfi_identification",
            request,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            purpose=purpose,
        )

    def connectfi_status(
        self, request: StatusRequest, *, correlation_id: str | None = None, purpose: str | None = None
    ) -> Response[ApplicationAnswer]:
        """connectFi: an application's current state."""
        return self._call("connectfi_status", request, correlation_id=correlation_id, purpose=purpose)

    def connectfi_documents(
        self,
        request: DocumentRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
    ) -> Response[DocumentAnswer]:
        """connectFi: generate a document and upload its image (`file`, base64)."""
        return self._call(
            "connectfi_documents",
            request,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            purpose=purpose,
        )

    def connectfi_update(
        self,
        request: UpdateRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
    ) -> Response[UpdateAnswer]:
        """connectFi: attach uploaded documents to an application's entity."""
        return self._call(
            "connectfi_update", request, idempotency_key=idempotency_key, correlation_id=correlation_id, purpose=purpose
        )

    def connectfi_application(
        self, application_id: str, *, correlation_id: str | None = None
    ) -> Response[StoredApplication]:
        """connectFi: the application's latest state as the gateway confirmed and stored it (no provider call)."""
        parameters = {"applicationId": application_id}
        return self._call("connectfi_application", None, path_parameters=parameters, correlation_id=correlation_id)

    def audit_search(self, request: SearchRequest, *, correlation_id: str | None = None) -> Response[AuditSearchAnswer]:
        """The audit records of one subject, newest first: `{"records": [...], "nextToken": ...}` (compliance
        roles only; docs/audit.md)."""
        return self._call("audit_search", request, correlation_id=correlation_id)

    # --- one call -----------------------------------------------------------------------------------------------

    def _call(
        self,
        name: str,
        body: Mapping[str, Any] | None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        purpose: str | None = None,
        path_parameters: Mapping[str, str] | None = None,
    ) -> Response[Any]:
        route = ROUTES[name]
        for key, value in (path_parameters or {}).items():
            if not isinstance(value, str) or value in ("", ".", ".."):  # dot segments: requests would resolve them
                reason = f"{key} must be a non-empty string, not . or ..; nothing was sent"
                raise InvalidRequest(0, "validation_error", reason)
        path = route.path.format(**{key: quote(value, safe="") for key, value in (path_parameters or {}).items()})
        headers = {"Accept": "application/json", "X-Correlation-Id": header_value("correlation_id", correlation_id)}
        if (purpose := purpose_value(purpose)) is not None:  # why the provider is asked, for its audit record
            headers["X-Request-Purpose"] = purpose
        if route.write:  # the same key on every attempt: the gateway does the write at most once
            headers["Idempotency-Key"] = header_value("idempotency_key", idempotency_key)
        data = None
        if body is not None:
            try:
                data = json.dumps(body, allow_nan=False).encode()
            except (TypeError, ValueError, RecursionError) as error:  # bytes, a set, NaN, too deep...: not JSON
                reason = f"the request body is not JSON ({type(error).__name__}); nothing was sent"
                raise InvalidRequest(0, "validation_error", reason) from None
            headers["Content-Type"] = "application/json"
        try:
            reply, attempts, earlier = self._send_with_retries(route.method, self.base_url + path, headers, data)
            echoed = reply.headers.get("X-Correlation-Id") or headers["X-Correlation-Id"]
            answer = json_answer(reply, echoed)
        except TransportError as error:
            # A write whose answer never came, or came unreadable, may have been done: the key it was sent under is
            # the caller's one way to ask again without doing it twice.
            error.idempotency_key = headers.get("Idempotency-Key")
            raise
        said = reply.headers.get("Idempotent-Replayed")
        replayed = None if said is None else said == "true"
        if reply.status_code >= 400:
            error = error_from(reply.status_code, answer, echoed)
            error.idempotency_key, error.replayed = headers.get("Idempotency-Key"), replayed
            if error.code == "idempotency_outcome_unknown" and earlier is not None:
                # The retry of a write the provider failed after it was sent (a 504, CDP's 502): the 409 knows only
                # the key, the first answer what the provider said, its request id to raise it with the provider
                error.keep_provider_of(earlier, echoed)
            raise error
        return Response(
            status=reply.status_code,
            body=answer,
            correlation_id=echoed,
            idempotency_key=headers.get("Idempotency-Key"),
            replayed=replayed,
            attempts=attempts,
        )

    def _send_with_retries(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[requests.Response, int, requests.Response | None]:
        """The last answer, the attempts made, and the answer before the last (None after one answer)."""
        started = self._clock()
        attempt = 0
        earlier = None
        while True:
            attempt += 1
            remaining = self.budget_seconds - (self._clock() - started)
            if remaining <= 0:  # only a first attempt can find it so (a retry is paused for only if it fits)
                reason = f"budget_seconds ({self.budget_seconds}) ran out before the request could be sent"
                raise TransportError(0, "transport_error", reason, correlation_id=headers["X-Correlation-Id"])
            timeout = (min(self.timeout[0], remaining), min(self.timeout[1], remaining))
            try:
                reply = self.session.request(
                    method,
                    url,
                    data=data,
                    headers=self._signed(method, url, headers, data),
                    timeout=timeout,
                    allow_redirects=False,  # a redirect would re-send the signed request, its body and key, elsewhere
                    auth=_as_signed,  # never a ~/.netrc entry's Basic credentials in place of the signature
                )
            # Any of them: the caller never gets a requests exception, nor one of urllib3 that requests lets through
            # (a host urllib3 refuses to connect to is a LocationParseError, a ValueError).
            except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
                if isinstance(error, RETRYABLE_FAILURES) and self._pause_before_retry(attempt, started, None):
                    continue
                reason, correlation_id = type(error).__name__, headers["X-Correlation-Id"]
                raise TransportError(0, "transport_error", reason, correlation_id=correlation_id) from None
            retryable = reply.status_code in RETRYABLE_STATUSES
            if retryable and self._pause_before_retry(attempt, started, reply.headers.get("Retry-After")):
                earlier = reply
                continue
            return reply, attempt, earlier

    def _pause_before_retry(self, attempt: int, started: float, retry_after: str | None) -> bool:
        """Sleep before the next attempt when one is left and a whole attempt fits the budget after the pause; False
        to give up. An attempt cut short by the budget would end in a ReadTimeout in place of the answer in hand,
        while the gateway still works on it (a write included)."""
        if attempt >= self.max_attempts:
            return False
        delay = random.uniform(0, min(self.backoff_cap_seconds, self.backoff_seconds * 2 ** (attempt - 1)))
        asked = _seconds(retry_after)
        if asked is not None:
            delay = max(delay, asked)
        if self._clock() - started + delay + self._attempt_seconds() > self.budget_seconds:
            return False
        self._sleep(delay)
        # a sleep that overran: give up rather than send what cannot get its answer in time
        return self._clock() - started + self._attempt_seconds() <= self.budget_seconds

    def _attempt_seconds(self) -> float:
        """The longest one whole attempt takes: connecting, then the gateway's answer (or the read timeout)."""
        return self.timeout[0] + min(self.timeout[1], GATEWAY_ANSWERS_WITHIN_SECONDS)

    def _signed(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> dict[str, str]:
        """The headers with SigV4 added (a fresh signature per attempt: it carries the time)."""
        if not self.sign:
            return dict(headers)
        request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(self._frozen_credentials(), "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())

    def _aws_configuration(self) -> botocore.session.Session:
        """One botocore session for the region and the credentials (each reads the same files and variables)."""
        if self._aws is None:
            self._aws = botocore.session.Session()
        return self._aws

    def _configured_region(self) -> str | None:
        """The region of the standard AWS configuration: AWS_DEFAULT_REGION, or the profile's `region`."""
        try:
            return self._aws_configuration().get_config_variable("region")
        except Exception:  # noqa: BLE001 - a profile that cannot be read names no region (its credentials say why)
            return None

    def _frozen_credentials(self) -> Any:
        """The credentials of this attempt (a role's are refreshed as they expire)."""
        try:
            if self._credentials is None:
                self._credentials = self._aws_configuration().get_credentials()
            if self._credentials is not None:
                frozen = self._credentials.get_frozen_credentials()
                if all(isinstance(part, str) and part for part in (frozen.access_key, frozen.secret_key)):
                    return frozen
                reason = "the AWS credentials have no access key or no secret key"
            else:
                reason = "no AWS credentials found (environment, profile, SSO or role)"
        # Whatever a source of the chain raises (a process's output that is not JSON, a missing token file, a
        # container endpoint botocore refuses...): say which, not its details.
        except Exception as error:  # noqa: BLE001
            reason = f"the AWS credentials could not be loaded ({type(error).__name__})"
        raise CredentialsUnavailable(0, "credentials_unavailable", reason)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
