"""The one adapter between API Gateway proxy events and the gateway's operations.

It parses and validates the body (400 before any provider call), runs the operation, and shapes every answer:
the provider's body unchanged on success, the error envelope on failure, `X-Correlation-Id` on both.

Both proxy payload formats are read: REST API (1.0, what the template deploys) and HTTP API (2.0), whose
fields the adapter reads (headers, body, isBase64Encoded, pathParameters, requestContext.requestId) are the
same. Anything else is refused with a 400 naming the event.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kyc_gateway import clock, cold_start, deploy_check, snapstart, strict_json
from kyc_gateway.errors import GatewayError, RequestTooLarge, RequestValidationError
from kyc_gateway.fields import ForwardedAsSent
from kyc_gateway.model import Model, validation_details
from kyc_gateway.observability import logger, record_outcome, request_started
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.registry import BY_ROUTE
from kyc_gateway.settings import get_settings

RequestT = TypeVar("RequestT", bound=BaseModel)
Operation = Callable[[RequestT], ProviderResponse | Mapping[str, Any]]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# API Gateway accepts 10 MB but a synchronous Lambda invocation carries at most 6 MB, base64 and envelope included.
MAX_BODY_BYTES = 5 * 1024 * 1024
# The header a write route honours (kyc_gateway.idempotency_keys), as API Gateway passes header names: any case.
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
PURPOSE_HEADER = "x-request-purpose"  # why a provider is asked, for the audit record: a code or case id, opaque
_SANE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}\Z")
_REQUEST_ID = re.compile(r"^[!-}]{1,160}\Z")  # printable ASCII but `~` (kyc_gateway.audit_search)
# application/json, or a structured-syntax JSON type such as application/merge-patch+json; parameters allowed.
_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[a-z0-9.!#$&^_-]+\+)?json\Z")


def http_route(
    route: str,
    request_model: type[RequestT],
    operation: Operation,
    *,
    parse: Callable[[dict[str, Any], type[RequestT]], RequestT] | None = None,
    status: int = 200,
    idempotent_write: str | None = None,
    body_model: type[BaseModel] | None = None,
) -> LambdaHandler:
    """A Lambda handler for `route` that validates the request with `request_model` (from the JSON body, or with
    `parse` from the whole event) and runs `operation`; success answers `status`. An `idempotent_write` (how a
    caller finds out the outcome of a write that timed out) honours `Idempotency-Key`: a request carrying one runs
    at most once per key (kyc_gateway.idempotency_keys). `body_model` documents the body when a custom `parse` reads it
    (for the OpenAPI document)."""
    parse = parse or parse_body
    entry = BY_ROUTE.get(route)
    audited_provider = entry.provider if entry else None
    if audited_provider and not hasattr(request_model, "audit_subjects"):
        raise TypeError(f"{route} calls {audited_provider}: {request_model.__name__} must name its audit_subjects")

    @cold_start.resumes_after_first_request
    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if deploy_check.requested(event):
            return deploy_check.answer(lambda_handler)
        started = clock.monotonic()
        request_started(context)
        correlation_id = correlation_id_of(event)
        logger.set_correlation_id(correlation_id)
        request = key = purpose = result = failure = None
        replayed = False
        try:
            if not is_proxy_event(event):
                raise _invalid("event", "is not an API Gateway proxy event (REST payload 1.0 or HTTP API 2.0)")
            key = header(event, IDEMPOTENCY_KEY_HEADER) if idempotent_write else None  # read first: every answer says
            purpose, request = _purpose_and_request(event, request_model, parse, audited=audited_provider is not None)
            if key is None:
                result = operation(request)
                response = _response(status, _body_text(result), correlation_id)
            else:
                from kyc_gateway import idempotency_keys as keys

                def run() -> str:
                    nonlocal result
                    result = operation(request)
                    return _body_text(result)

                body, replayed = keys.replay_or_run(
                    route, keys.checked_key(key), request, run, how_to_check=idempotent_write
                )
                response = _response(status, body, correlation_id)
            code, provider, fault = "ok", None, False
        except GatewayError as error:
            response, code, provider = _error_response(error, correlation_id), error.code, error.failing_provider
            fault, failure, replayed = error.gateway_fault, error, error.replayed_answer
        except Exception as error:  # noqa: BLE001 - the caller gets the envelope; the type (never the text) is logged
            logger.error("unhandled error", route=route, error=type(error).__name__)
            response, code, provider = _error_response(GatewayError(), correlation_id), GatewayError.code, None
            fault, failure = True, GatewayError()
        if key is not None:  # every answer to a keyed request says whether it is a stored one, errors included
            response["headers"]["Idempotent-Replayed"] = str(replayed).lower()
        if audited_provider and request is not None and not isinstance(failure, RequestValidationError):
            _audit(
                event,
                route,
                audited_provider,
                request=request,
                response=response,
                code=code,
                result=result,
                failure=failure,
                key=key,
                purpose=purpose,
                replayed=replayed,
            )
        elapsed_ms = (clock.monotonic() - started) * 1000
        record_outcome(route, code, response["statusCode"], elapsed_ms, provider, fault=fault)
        return response

    lambda_handler.route = route  # type: ignore[attr-defined]
    lambda_handler.audited_provider = audited_provider  # type: ignore[attr-defined]
    lambda_handler.contract = RouteContract(  # type: ignore[attr-defined]
        body_model=body_model or (request_model if parse is parse_body else None),
        path_model=request_model if parse is parse_path else None,
        status=status,
        idempotency_keys=idempotent_write is not None,
        purpose=audited_provider is not None,
    )
    snapstart.register(lambda_handler)
    return lambda_handler


def _audit(
    event: dict[str, Any],
    route: str,
    provider: str,
    *,
    request: Any,
    response: dict[str, Any],
    code: str,
    result: Any,
    failure: GatewayError | None,
    key: str | None,
    purpose: str | None,
    replayed: bool,
) -> None:
    """The request's audit record (kyc_gateway.audit), once its answer is known: its subjects from the request and,
    when it succeeded, from the answer (an id the provider gave, such as a new application's)."""
    from kyc_gateway import audit

    answer = None
    if failure is None and isinstance(result, ProviderResponse) and result.body is not None:
        answer = result.body  # the answer's body is the provider's, already read
    elif failure is None:
        with contextlib.suppress(ValueError):
            answer = json.loads(response["body"])
    fields = {
        "caller": audit.caller_of(event),
        "route": route,
        "provider": provider,
        "operation": route.partition(".")[2],
        "status": response["statusCode"],
        "code": code,
        "correlationId": response["headers"]["X-Correlation-Id"],
        "apiRequestId": api_request_id(event),  # the access log's key, whatever the caller's id
        "idempotencyKey": key,
        "purpose": purpose,
        "replay": replayed or None,
        **audit.provider_outcome(answer if result is None else result, failure),  # a replay: the stored answer
    }
    try:
        subjects = list(request.audit_subjects(answer if isinstance(answer, dict) else None))
    except Exception as error:  # noqa: BLE001 - a subject that cannot be read never fails the answer
        logger.error("audit subjects unreadable", route=route, error=type(error).__name__)
        subjects = []
    audit.record(fields, subjects)


@dataclass(frozen=True)
class RouteContract:
    """What a route accepts and answers, for the OpenAPI document (generators/openapi.py)."""

    body_model: type[BaseModel] | None
    path_model: type[BaseModel] | None
    status: int
    idempotency_keys: bool
    purpose: bool  # takes X-Request-Purpose (a route that calls a provider, and so is audited)


def is_proxy_event(event: Any) -> bool:
    """A REST API (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    return isinstance(event, dict) and ("httpMethod" in event or event.get("version") == "2.0")


def correlation_id_of(event: Any) -> str:
    """The caller's X-Correlation-Id when it is sane, otherwise API Gateway's request id (a REST API's a UUID, an HTTP
    API's base64-like, as `Nn2cPjCrIAMEVeQ=`): printable ASCII but `~`, at most 160 characters, as an audit record's
    sort key and the audit search's page token take it; an event invoked by hand with another says "unknown"."""
    if not isinstance(event, dict):
        return "unknown"
    return sane_correlation_id(header(event, "x-correlation-id")) or _usable_request_id(event) or "unknown"


def _usable_request_id(event: dict[str, Any]) -> str | None:
    """API Gateway's request id, when it is one an audit record's sort key takes (read only without the caller's)."""
    request_id = api_request_id(event)
    return request_id if request_id is not None and _REQUEST_ID.match(request_id) else None


def api_request_id(event: dict[str, Any]) -> str | None:
    """API Gateway's id of the request (`requestContext.requestId`), if it gave one."""
    context = event.get("requestContext")
    value = context.get("requestId") if isinstance(context, dict) else None
    return str(value) if value else None


def request_purpose(event: dict[str, Any]) -> str | None:
    """The caller's X-Request-Purpose, when it sent one: why the provider is asked (an onboarding, a periodic
    review, a case's id), kept in the audit record. An opaque code, never personal data: the correlation id's
    characters only, else 400 and nothing is sent."""
    supplied = header(event, PURPOSE_HEADER)
    if supplied is None or _SANE_CORRELATION_ID.match(supplied):
        return supplied
    raise _purpose_refused(
        "must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit "
        "(a purpose code or a case id, never personal data)"
    )


def _purpose_and_request(
    event: dict[str, Any], request_model: type[RequestT], parse: Callable[..., RequestT], *, audited: bool
) -> tuple[str | None, RequestT]:
    """A provider route's X-Request-Purpose (its form checked before the body), and the request. Where the
    deployment requires a purpose (REQUIRE_REQUEST_PURPOSE), one missing is 400 too, checked after the body: a
    refused body never reads the settings for it."""
    purpose = request_purpose(event) if audited else None
    request = parse(event, request_model)
    if audited and purpose is None and get_settings().require_request_purpose:
        raise _purpose_refused("is required here: why the provider is asked (a purpose code or a case id)")
    return purpose, request


def _purpose_refused(issue: str) -> RequestValidationError:
    return RequestValidationError(details=[{"field": "X-Request-Purpose", "issue": issue, "type": "header"}])


def sane_correlation_id(supplied: str | None) -> str | None:
    """`supplied` when it is a sane correlation id (1-128 of letters, digits, `. _ : -`, starting with a letter or
    digit), else None."""
    return supplied if supplied and _SANE_CORRELATION_ID.match(supplied) else None


def public_base_url(event: Mapping[str, Any]) -> str | None:
    """The gateway's own public URL: PUBLIC_BASE_URL (a custom domain) when set, else the URL this request came in
    at."""
    return get_settings().public_base_url or request_base_url(event)


def request_base_url(event: Mapping[str, Any]) -> str | None:
    """The URL this request came in at, as API Gateway says (https://{domainName}/{stage}; an HTTP API's $default
    stage has no path of its own): the gateway's own too, a custom domain or not."""
    context = event.get("requestContext")
    if not isinstance(context, dict) or not context.get("domainName") or not context.get("stage"):
        return None
    stage = context["stage"]
    return f"https://{context['domainName']}" + ("" if stage == "$default" else f"/{stage}")


def header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers")
    for key, value in headers.items() if isinstance(headers, dict) else ():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value.strip()
    return None


def parse_body(event: Mapping[str, Any], model: type[RequestT]) -> RequestT:
    """The JSON object in the body, validated by `model`. A body the caller declares as another media type is not
    JSON: 400, as a body that does not parse."""
    content_type = header(event, "content-type")
    if content_type and not _JSON_MEDIA_TYPE.match(content_type.partition(";")[0].strip().lower()):
        raise RequestValidationError(
            "The request body must be JSON (Content-Type: application/json)",
            details=[{"field": "Content-Type", "issue": "must be application/json", "type": "header"}],
        )
    encoding = header(event, "content-encoding")
    if encoding and encoding.lower() != "identity":  # the API decompresses nothing: a gzip body is not JSON text
        raise RequestValidationError(
            "The request body must be sent uncompressed",
            details=[{"field": "Content-Encoding", "issue": "must be absent or identity", "type": "header"}],
        )
    raw = body_bytes(event)
    request = validate(model, json_object(raw))
    if isinstance(request, ForwardedAsSent):
        request.keep_raw(raw)
    return request


def parse_path(event: Mapping[str, Any], model: type[RequestT]) -> RequestT:
    """The path parameters, validated by `model`."""
    return validate(model, event.get("pathParameters") or {})


def validate(model: type[RequestT], data: Any) -> RequestT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(details=validation_details(error)) from None


class RawBody(Model):
    """The request body as API Gateway passed it, not yet read: text, base64-encoded when `base64`."""

    text: str | None
    base64: bool = False
    malformed: bool = False  # not a string: never from API Gateway, refused when read

    def read(self, max_bytes: int = MAX_BODY_BYTES) -> bytes:
        """The bytes, base64-decoded when API Gateway encoded them; 400 when absent, 413 when too large."""
        if self.malformed:
            raise _invalid("body", "must be the request body as a string, as API Gateway sends it")
        if self.text is None or self.text == "":
            raise _invalid("body", "a JSON object is required")
        raw: str | bytes = self.text
        if self.base64:
            try:
                raw = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise _invalid("body", "is not valid base64") from None
        data = raw.encode() if isinstance(raw, str) else raw
        if len(data) > max_bytes:
            raise RequestTooLarge.over(max_bytes)
        return data


def raw_body(event: Mapping[str, Any]) -> RawBody:
    """The event's body, unread."""
    body = event.get("body")
    text = body if isinstance(body, str) else None
    return RawBody(text=text, base64=event.get("isBase64Encoded") is True, malformed=body is not None and text is None)


def path_parameter(event: Mapping[str, Any], name: str) -> str:
    value = (event.get("pathParameters") or {}).get(name)
    return value if isinstance(value, str) else ""


def body_bytes(event: Mapping[str, Any], max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The request body, base64-decoded when API Gateway encoded it; 400 when absent, 413 when too large."""
    return raw_body(event).read(max_bytes)


def json_object_body(event: Mapping[str, Any], max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, read strictly (kyc_gateway.strict_json); 400 when it is not one."""
    return json_object(body_bytes(event, max_bytes))


def json_object(data: bytes) -> dict[str, Any]:
    """`data` as a JSON object, read strictly; 400 when it is not one."""
    body = read_json(data)
    if not isinstance(body, dict):
        raise _invalid("body", "must be a JSON object")
    return body


def read_json(data: bytes) -> Any:
    """`data` as strict JSON; 400 `validation_error` saying why it is not."""
    try:
        return strict_json.loads(data)
    except strict_json.NotStrictJson as error:
        raise _invalid("body", error.reason) from None


def _invalid(field: str, issue: str) -> RequestValidationError:
    return RequestValidationError(details=[{"field": field, "issue": issue, "type": "body"}])


def _body_text(result: ProviderResponse | Mapping[str, Any]) -> str:
    """The provider's body unchanged, or our own answer as JSON."""
    return result.text if isinstance(result, ProviderResponse) else json.dumps(result)


def _response(status: int, body: str, correlation_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "X-Correlation-Id": correlation_id,
        },
        "body": body,
    }


def _error_response(error: GatewayError, correlation_id: str) -> dict[str, Any]:
    response = _response(error.status, json.dumps(error.envelope(correlation_id)), correlation_id)
    if error.retry_after_seconds is not None:
        response["headers"]["Retry-After"] = str(error.retry_after_seconds)
    return response
