"""connectFi (US KYC/KYB, "akepa"): token, identification, status.

Login: `POST {CONNECTFI_BASE_URL}/auth/get-token` `{"user": {"login", "password"}}` ->
`{"code": "0", "data": {"token", "dtsExpireAt"}}`; the token (or, when it is an object, its base token) goes in
`x-connectfi-token`.
Errors: `{"requestId", "code", "subCode", "context", "message"}`; connectFi rejects unknown fields.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import BeforeValidator, ConfigDict

from kyc_gateway import clock
from kyc_gateway.errors import (
    ConfigurationError,
    GatewayError,
    ProviderBadResponse,
    ProviderFailed,
    ProviderRejected,
    SubjectNotFound,
)
from kyc_gateway.fields import RawJson
from kyc_gateway.model import Model
from kyc_gateway.observability import logger
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.providers.base import FieldSpelling, ProviderClient, json_body, undocumented
from kyc_gateway.providers.connectfi.common import PROVIDER, ConnectFiId, is_application_state
from kyc_gateway.settings import get_settings
from kyc_gateway.token_cache import Token, header_token

if TYPE_CHECKING:
    from kyc_gateway.providers.connectfi.identification import IdentificationRequest

TOKEN_PATH = "/auth/get-token"  # noqa: S105 - a URL path, not a secret
IDENTIFICATION_PATH = "/akepa/identification"
STATUS_PATH = "/akepa/status"
DOCUMENT_GENERATE_PATH = "/akepa/document/generate"
DOCUMENT_UPLOAD_PATH = "/akepa/document/upload/{document_id}"
UPDATE_PATH = "/akepa/update"


class StatusRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    customerId: ConnectFiId
    applicationId: ConnectFiId

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the customer and the application."""
        yield "customer", self.customerId
        yield "application", self.applicationId


class ConnectFiSecret(Model):
    login: str
    password: str


def _iso_8601(value: Any) -> Any:
    """A time in any ISO 8601 form Python reads (basic format, an offset in hours only...), before pydantic's
    stricter RFC 3339 reading of what is left."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value)
    return value


class TokenReply(Model):
    # A string (the API reference) or {"base", "confined"} (the Authentication page): read by `_login_token`.
    token: Any = None
    dtsExpireAt: Annotated[dt.datetime, BeforeValidator(_iso_8601)]


class TokenAnswer(Model):
    data: TokenReply


Mapping = dict[str, tuple[type[GatewayError], str]]  # connectFi's code -> (gateway error, gateway code)
_ERROR_STATUSES = range(400, 500)  # connectFi documents its errors as 4xx
PAST_EXPIRY_KEPT_SECONDS = 60  # a token whose dtsExpireAt is already past: one login a minute, not one per call

# Documented connectFi codes -> (gateway error, gateway code), whichever of _ERROR_STATUSES carries them (its public
# table gives customerNotFound as a 400). Any other answer is undocumented: 502.
_ERRORS: Mapping = {
    # connectFi refused what the caller sent
    "requestValidateError": (ProviderRejected, "provider_validation_failed"),
    # connectFi failing: its error list defines extAkepa as an error in its back office
    "extAkepa": (ProviderFailed, "provider_error"),
}
# connectFi failing in its back office: on a write, before or after it acted (nothing says which), so the write's
# outcome is unknown, never sent again under the same Idempotency-Key
_BACK_OFFICE_FAILURE = "extAkepa"
# Documents connectFi does not find: the caller's only on a call that names the caller's documents (an update's
# `documents`, an upload-only `documentId`); elsewhere (the document the gateway just generated, the file in the
# multipart the gateway built) connectFi failing, as any code it answers where it has no meaning.
DOCUMENT_NOT_FOUND: Mapping = {"documentNotFound": (ProviderRejected, "document_not_found")}
FILE_NOT_FOUND: Mapping = {"fileNotFound": (ProviderRejected, "file_not_found")}
# The state of the caller's application refusing the call: on the calls about a customer's application (starting
# one, reading or updating it), not on a document's generation or upload, which name none.
APPLICATION_STATE: Mapping = {"statusApplicationEntity": (ProviderRejected, "invalid_application_state")}
# A subject connectFi does not find: the caller's 404 on a call that names it (a customer: identification, status and
# update; an application: status and update); on a document's generation or upload, which name neither, connectFi
# failing.
CUSTOMER_NOT_FOUND: Mapping = {"customerNotFound": (SubjectNotFound, "customer_not_found")}
SUBJECT_NOT_FOUND: Mapping = CUSTOMER_NOT_FOUND | {"applicationNotFound": (SubjectNotFound, "application_not_found")}
_DOCUMENTED = {*_ERRORS, *APPLICATION_STATE, *DOCUMENT_NOT_FOUND, *FILE_NOT_FOUND, *SUBJECT_NOT_FOUND}


# The identification's callback field: connectFi's schema table spells it `webhookURL`, its example `webhookUrl`, and
# unknown properties are refused, so only one can work. `auto` tries `webhookUrl` first.
WEBHOOK_FIELD_SPELLINGS = ("webhookUrl", "webhookURL")


class ConnectFiClient(ProviderClient):
    name = PROVIDER
    secret_model = ConnectFiSecret
    uses_tokens = True

    def __init__(self) -> None:
        super().__init__()
        self.webhook_field = FieldSpelling(
            PROVIDER,
            WEBHOOK_FIELD_SPELLINGS,
            get_settings().connectfi_webhook_field,
            settled_message="connectfi webhook field settled",
        )

    def identification(self, request: IdentificationRequest, default_webhook_url: str | None) -> ProviderResponse:
        body: dict[str, Any] = {"customerId": request.customerId, "reference": request.reference}
        if request.syncMode is not None:
            body["syncMode"] = request.syncMode
        webhook = request.webhook if request.webhook is not None else default_webhook_url
        if webhook is None:
            raise ConfigurationError("PUBLIC_BASE_URL is not configured")

        def identify(field: str) -> ProviderResponse:  # creates an application: a write, never retried blindly
            request_body = body | {field: webhook}
            callers = CUSTOMER_NOT_FOUND | APPLICATION_STATE
            try:
                response = self._call(
                    IDENTIFICATION_PATH, "identification", request_body, idempotent=False, callers=callers
                )
            except ProviderRejected as error:
                if request.webhook is None and _refuses_value_of(error, field):  # the URL is the gateway's own
                    self.webhook_field.read(field)  # its schema ruled on the field's value: it reads this spelling
                    raise _field_refused(
                        error, f"connectFi refuses the gateway's own {field} (PUBLIC_BASE_URL)"
                    ) from None
                raise
            if not is_application_state(response.body["data"]):  # done, but which application did it start?
                raise response.unusable(ProviderBadResponse)
            return response

        field = self.webhook_field.first
        try:
            return identify(field)
        except ProviderRejected as error:
            if not _refuses_field(error, field):
                raise
            if not self.webhook_field.auto:  # pinned to a spelling connectFi does not read: the gateway's fault
                raise _field_refused(error, f"connectFi refuses the field {field} (CONNECTFI_WEBHOOK_FIELD)") from None
        # Refused by connectFi's schema check, so nothing was started: sent again once, under the other spelling.
        other = self.webhook_field.other(field)
        try:
            response = identify(other)
        except GatewayError as error:
            if _refuses_field(error, other):  # neither spelling read: connectFi contradicts its own documents
                raise _field_refused(
                    error, "connectFi refuses both webhookUrl and webhookURL", ProviderFailed
                ) from None
            if _documented_refusal(error) and error.provider_code != "requestValidateError":
                self.webhook_field.read(other)  # refused past its schema check, which read the field
            raise
        self.webhook_field.read(other)
        return response

    def status(self, request: StatusRequest) -> ProviderResponse:
        """A read: connectFi's state of the application asked about. An answer about another application, or
        without a status, is connectFi failing (502)."""
        callers = SUBJECT_NOT_FOUND | APPLICATION_STATE
        response = self._call(STATUS_PATH, "status", request.model_dump(), idempotent=True, callers=callers)
        state = response.body["data"]
        if state.get("applicationId") != request.applicationId:
            issue = {"field": "data.applicationId", "issue": "is not the application asked about"}
            raise response.error(ProviderFailed, details=[issue])
        if not isinstance(state.get("status"), str) or not state["status"]:
            issue = "is missing" if "status" not in state else "is not a non-empty string"
            raise response.error(ProviderBadResponse, details=[{"field": "data.status", "issue": issue}])
        return response

    def generate_document(self, body: dict[str, Any]) -> ProviderResponse:
        return self._call(DOCUMENT_GENERATE_PATH, "document_generate", body, idempotent=False)  # a write

    def upload_document(
        self, document_id: str, file_name: str, content: bytes, media_type: str, *, named_by_caller: bool
    ) -> ProviderResponse:
        """The file as multipart/form-data (field `file`). What a second upload to the same document does is not
        published: the upload is retried like a read all the same, the same file to the same document (a path
        naming one document, read as its content set again; at worst it holds the same image twice, never a second
        document), so that a passing fault does not leave a generated document without its file. connectFi answers
        200 when it accepted the file, and publishes no fields of that answer: a 200 is the upload done, whatever its
        body, unless the body is connectFi's error envelope (a `code` other than "0"). A document connectFi does not
        know is the caller's 422 when the caller named it, connectFi failing (502) when the gateway had just
        generated it."""
        path = DOCUMENT_UPLOAD_PATH.format(document_id=quote(document_id, safe=""))  # any text, one path segment

        def send(token: str) -> ProviderResponse:
            headers = {"x-connectfi-token": token, "Accept": "application/json"}
            files = {"file": (file_name, content, media_type)}
            return self.http.post(path, operation="document_upload", idempotent=True, files=files, headers=headers)

        response = self.with_token(send)
        body = response.body or {}
        if response.status == 200 and str(body.get("code", "0")) == "0":  # no error code in it
            return response
        mapping = _ERRORS | (DOCUMENT_NOT_FOUND if named_by_caller else {})
        if response.status == 400 and (response.body is not None or not response.text.strip()):
            # connectFi's step-up page: the upload answers 400 for a document it does not know, no code promised.
            # Not a proxy's or a parser's page (text, HTML), which says nothing of the document: that is a 502.
            raise _error_for(response, body, mapping, meaning="documentNotFound")
        raise _error_for(response, json_body(response), mapping)

    def update(self, body: dict[str, Any] | RawJson) -> ProviderResponse:
        """Changes the application: a write; its documents are the caller's, uploaded or not. connectFi publishes
        no field of its answer: its success (200, code "0") is the update done, whatever its `data` holds."""
        callers = SUBJECT_NOT_FOUND | APPLICATION_STATE | DOCUMENT_NOT_FOUND | FILE_NOT_FOUND
        return self._call(UPDATE_PATH, "update", body, idempotent=False, callers=callers, answers_data=False)

    def _call(
        self,
        path: str,
        operation: str,
        body: Any,
        *,
        idempotent: bool,
        callers: Mapping | None = None,
        answers_data: bool = True,
    ) -> ProviderResponse:
        header = lambda token: {"x-connectfi-token": token}  # noqa: E731 - a header shape
        send = self.sender(path, operation, body, idempotent=idempotent, header=header)
        return _checked(self.with_token(send), callers=callers, answers_data=answers_data)

    def error_code(self, body: dict[str, Any]) -> str | None:
        return _code(body)

    def log_in(self, secret: ConnectFiSecret, previous: Token | None) -> Token:
        response = self.http.post(
            TOKEN_PATH,
            operation="token",
            idempotent=True,
            json_body={"user": {"login": secret.login, "password": secret.password}},
            headers={"Accept": "application/json"},
        )
        if response.status == 200 and (code := _code(response.body or {})) not in (None, "0"):
            raise undocumented(response, code)  # connectFi's success says "0": its token, if any, is not used
        reply = self.token_answer(response, TokenAnswer, code=_code).data
        token = _login_token(response, reply)
        expires_at = reply.dtsExpireAt
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        now = clock.now()
        if expires_at.timestamp() <= now:  # clocks apart, or the example's value: a 401 on it renews it, if it is over
            logger.warning("connectfi token expiry already past: kept a short while", provider=PROVIDER)
            return Token.issued(token, now=now, expires_at=now + PAST_EXPIRY_KEPT_SECONDS)
        return Token.issued(token, now=now, expires_at=expires_at.timestamp())


def _login_token(response: ProviderResponse, reply: TokenReply) -> str:
    """The token for the gateway's calls: `data.token` when it is a string, its `base` member when it is an object
    (the Authentication page: the base token serves every request unless an endpoint's page asks for the confined
    one, and none the gateway calls does). Any other shape is 502 naming the shape, never the value."""
    token = reply.token.get("base") if isinstance(reply.token, dict) else reply.token
    if isinstance(token, str) and header_token(token):
        return token
    issue = "is missing" if "token" not in reply.model_fields_set else f"is {_shape(reply.token)}"
    raise response.error(ProviderBadResponse, details=[{"field": "data.token", "issue": issue}])


def _shape(value: Any) -> str:
    """A JSON value's kind, in words (an unusable login token's: never its content)."""
    if isinstance(value, dict):
        return "an object without a base token"
    if isinstance(value, str) and value:
        return "not visible ASCII without spaces (no header can carry it)"
    kinds = ((type(None), "null"), (bool, "a boolean"), (int | float, "a number"), (str, "an empty string"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "an array")


def _checked(
    response: ProviderResponse, *, callers: Mapping | None = None, answers_data: bool = True
) -> ProviderResponse:
    """connectFi's success (HTTP 200, code "0", and its `data` object where the call `answers_data`), or the gateway
    error its answer means: `_ERRORS`, and the codes that are the caller's on this call only (`callers`)."""
    body = json_body(response)
    if response.status == 200 and str(body.get("code")) == "0":
        if isinstance(body.get("data"), dict) or not answers_data:
            return response
        raise response.unusable(ProviderBadResponse)  # a success without its data (after a write: done or not?)
    raise _error_for(response, body, _ERRORS | (callers or {}))


def _error_for(
    response: ProviderResponse, body: dict[str, Any], mapping: Mapping, *, meaning: str | None = None
) -> GatewayError:
    """The error `body`'s code means in `mapping`; `meaning`, the documented code an answer whose body names none
    stands for."""
    code = _code(body)
    documented = code or meaning
    if documented not in mapping or response.status not in _ERROR_STATUSES:
        # a route miss ("Cannot POST") included; and a code under another status than connectFi's errors' 4xx: a
        # 5xx is connectFi failing, and a 2xx to a write may have done it
        return undocumented(response, code)
    kind, gateway_code = mapping[documented]
    details = _validation_context(body) if documented == "requestValidateError" else None
    after_acting = documented == _BACK_OFFICE_FAILURE
    return response.error(kind, code=gateway_code, provider_code=code, details=details, after_acting=after_acting)


def _field_refused(error: GatewayError, message: str, kind: type[GatewayError] = ConfigurationError) -> GatewayError:
    """connectFi's refusal of the callback field the gateway itself named, as the gateway's error `kind`."""
    return kind(
        message,
        provider=error.provider,
        provider_status=error.provider_status,
        provider_code=error.provider_code,
        provider_request_id=error.provider_request_id,
        details=error.details,
    )


def _documented_refusal(error: GatewayError) -> bool:
    """One of connectFi's documented codes, under the 4xx its errors come with."""
    return error.provider_code in _DOCUMENTED and error.provider_status in _ERROR_STATUSES


def _refuses_field(error: GatewayError, field: str) -> bool:
    """connectFi's requestValidateError refusing `field` as a property it does not know: by name, or a property of
    the body's top level it does not name (every other field sent is one of its schema's, and the caller can send no
    other: an unnamed one can only be the callback field, never the caller's)."""
    return error.provider_code == "requestValidateError" and any(
        detail.get("keyword") == "additionalProperties" and _unknown_property_may_be(detail, field)
        for detail in error.details
    )


def _refuses_value_of(error: GatewayError, field: str) -> bool:
    """connectFi's requestValidateError ruling on the value of the body's `field` alone (ajv's instancePath names
    it in every error: one about a field of the caller's too is the caller's to see)."""
    return (
        error.provider_code == "requestValidateError"
        and bool(error.details)
        and all(detail.get("instancePath") == f"/{field}" for detail in error.details)
    )


def _unknown_property_may_be(detail: dict[str, Any], field: str) -> bool:
    """An ajv additionalProperties error naming `field`, or naming none at the body's top level."""
    params = detail.get("params")
    named = params.get("additionalProperty") if isinstance(params, dict) else None
    if isinstance(named, str) and named:
        return named == field
    return not detail.get("instancePath")


def _validation_context(body: dict[str, Any]) -> list[dict[str, Any]]:
    """connectFi's `context` for requestValidateError: ajv errors, one per failing field (no submitted values).
    Without a context, a message in ajv's words for an unknown property stands for that error at the body's top
    level, unnamed: the one property the caller's checked body cannot hold is the callback field's spelling."""
    context = body.get("context")
    if not isinstance(context, list) or not context:
        message = body.get("message")
        if isinstance(message, str) and _UNKNOWN_PROPERTY.search(message):
            return [{"keyword": "additionalProperties", "message": message}]
        return []
    keep = ("instancePath", "schemaPath", "keyword", "params", "message")
    return [{key: item[key] for key in keep if key in item} for item in context if isinstance(item, dict)]


# ajv's whole message for an unknown property at the body's top level (ajv 6: "should", with "data " before it)
_UNKNOWN_PROPERTY = re.compile(r"^(data )?(must|should) NOT have additional properties$", re.IGNORECASE)


def _code(body: dict[str, Any]) -> str | None:
    code = body.get("code")
    return str(code) if code is not None else None


def status(request: StatusRequest) -> ProviderResponse:
    return ConnectFiClient.instance().status(request)
