"""connectFi step-up: what an application in `pending_step_up` needs to go on. A document is generated and its
image uploaded in one gateway call (`/akepa/document/generate`, then `/akepa/document/upload/{documentId}` as
multipart/form-data); `/akepa/update` then attaches uploaded documents to the application's entity.

Document images are personal data of the most sensitive kind: held only in the request's memory, never logged,
never in an error, never stored (the idempotency record keeps a hash of the body, not the body).
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from kyc_gateway.errors import GatewayError, ProviderBadResponse, ProviderFailed
from kyc_gateway.fields import ForwardedAsSent
from kyc_gateway.model import Model, absent_or_set
from kyc_gateway.observability import logger
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.providers.connectfi import write_answers
from kyc_gateway.providers.connectfi.client import ConnectFiClient
from kyc_gateway.providers.connectfi.common import (
    DOCUMENT_ID_SCHEMA,
    NO_MARKUP,
    PROVIDER,
    ConnectFiId,
    DocumentId,
    answered_ids,
    document_id_of,
    envelope_data,
)

# JavaScript's String.prototype.trim() whitespace: what connectFi's `isNotOnlyWhitespace` strips (ajv runs on Node).
_JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
# The upload's media type for each declared extension. The content itself is connectFi's to judge: it documents no
# check of it, so the gateway makes none.
_MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png"}

# connectFi's published document types: its list to extend, so examples here, never a check (connectFi answers a
# type it does not take with requestValidateError, which names the field).
DOCUMENT_TYPES = (
    "contract", "license", "passport", "utility", "other", "internal", "identification_card", "residence_permit",
    "canada_provincial_id", "indigenous_card", "paystub", "bank_statement", "w2", "1099", "1120", "1065", "t1", "t4",
)  # fmt: skip


def _not_only_whitespace(value: str) -> str:
    if not value.strip(_JS_WHITESPACE):
        raise ValueError("must not be only whitespace")
    return value


Name = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=NO_MARKUP), AfterValidator(_not_only_whitespace)
]
Note = Annotated[str, StringConstraints(max_length=500, pattern=NO_MARKUP)]
# connectFi names the agent's address field without its format or type: text (an address is, in any reading) or null,
# its format connectFi's to judge (requestValidateError)
AgentEmail = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "description": "an agent's e-mail"})]
DocumentType = Annotated[
    str,
    StringConstraints(min_length=1),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "description": "connectFi's document type; connectFi owns the list (the published types are examples)",
            "examples": list(DOCUMENT_TYPES),
        }
    ),
]


class DocumentRequest(Model):
    """connectFi's generate fields as connectFi names them, the image (`file`, base64), and, to retry only the
    upload of a document generated before, its `documentId`. Unknown fields are refused, as connectFi refuses them.
    `note_author_agent_email`, whose format and type connectFi does not publish, is text or null, its format
    connectFi's to judge."""

    model_config = ConfigDict(extra="forbid", strict=True)

    workflow: Literal["BUSINESS", "PERSONAL"]
    name: Name
    extension: Literal["jpg", "png"]
    type: DocumentType
    note: Note | None = None
    note_author_agent_email: AgentEmail = None
    file: str = Field(repr=False)
    documentId: DocumentId = absent_or_set()

    @field_validator("file")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:  # line breaks as `base64`, openssl and MIME wrap it (every 76 characters), nothing else of another kind
            content = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "must be the image, base64-encoded (standard alphabet, line breaks allowed, no data: prefix)"
            ) from None
        if not content:
            raise ValueError("must be the image: it is empty, so there is nothing to upload")
        return value

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the document, named by the caller or
        generated (connectFi's generate takes no customer or application)."""
        if self.documentId is not None:
            yield "document", self.documentId
        else:
            yield from answered_ids(answer, "document", "documentId")

    def generate_body(self) -> dict[str, Any]:
        """What /akepa/document/generate gets: the generate fields the caller sent, nothing of the gateway's."""
        return self.model_dump(exclude={"file"}, exclude_unset=True)  # a generate never has a documentId

    @functools.cached_property
    def content(self) -> bytes:
        """The image's bytes (`file` was checked to decode, its line breaks aside, when validated)."""
        return base64.b64decode(self.file.replace("\r", "").replace("\n", ""), validate=True)


def _document_entry(value: Any) -> Any:
    """One entry of the update's `documents` (connectFi publishes no shape): a document, an object whose
    `documentId` (when present) is a document id as connectFi answered it, text or a number (its generate's `data.id`
    shows no type); or such an id alone. Its side (front or back, of no published type or values) and other fields
    are connectFi's to rule on."""
    named = value.get("documentId", "") if isinstance(value, dict) else value
    if (isinstance(value, dict) and "documentId" not in value) or document_id_of(named) is not None:
        return value
    raise ValueError(
        "must be a document (an object whose documentId, when given, is a number or text other than empty, . and ..)"
        " or such an id alone"
    )


DocumentEntry = Annotated[
    Any,
    AfterValidator(_document_entry),
    WithJsonSchema(
        {
            "description": "a document: {documentId, side, ...} as connectFi describes them, or a document's id",
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "documentId": {"anyOf": [DOCUMENT_ID_SCHEMA, {"type": "integer"}]},
                        "side": {"description": "front or back (connectFi publishes no type or values)"},
                    },
                    "additionalProperties": True,
                },
                DOCUMENT_ID_SCHEMA,
                {"type": "integer"},
            ],
        }
    ),
]


class UpdateRequest(ForwardedAsSent):
    """An /akepa/update body, forwarded as sent. The gateway checks what it knows of connectFi's identifiers:
    `documents` a list, each entry a document (an object) or a document's id; which fields are required, and
    anything else, is connectFi's to rule on."""

    model_config = ConfigDict(extra="allow", strict=True)

    customerId: ConnectFiId = absent_or_set()
    applicationId: ConnectFiId = absent_or_set()
    entityId: ConnectFiId = absent_or_set()
    documents: list[DocumentEntry] = absent_or_set()

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the customer, the application, the
        documents attached."""
        for kind, value in (("customer", self.customerId), ("application", self.applicationId)):
            if value is not None:
                yield kind, value
        for document in self.documents or ():
            named = document.get("documentId") if isinstance(document, dict) else document
            if (document_id := document_id_of(named)) is not None:
                yield "document", document_id


# How a caller finds out whether a write that timed out was done: these writes cannot be looked up at connectFi.
DOCUMENT_OUTCOME_CHECK = (
    "connectFi may have generated a document: send the request again under a new Idempotency-Key (a document "
    "generated but never uploaded and attached is not used); to upload only, add the documentId an error named"
)
UPDATE_OUTCOME_CHECK = (
    "connectFi may have attached the documents: read the application's status with POST /connectfi/status before "
    "sending the update again under a new Idempotency-Key"
)


def attach_document(request: DocumentRequest) -> dict[str, Any]:
    """Generate the document (unless the caller names one generated before), then upload its image.

    Once this request has generated a document, any failure of its upload (after the gateway's own retries) is
    answered with the generated documentId in `details`, and is the answer a retry under the same Idempotency-Key
    gets: never a second document. The caller uploads only by sending the body again with that documentId."""
    client = ConnectFiClient.instance()
    if request.documentId is not None:
        return _upload(client, request, request.documentId, named_by_caller=True)
    document_id = _document_id(client.generate_document(request.generate_body()))
    try:
        return _upload(client, request, document_id, named_by_caller=False)
    except GatewayError as error:
        error.details = [_upload_pending(document_id), *error.details]  # first: what to do, however many follow
        error.write_done = True
        raise


def _upload(
    client: ConnectFiClient, request: DocumentRequest, document_id: str, *, named_by_caller: bool
) -> dict[str, Any]:
    media_type = _MEDIA_TYPES[request.extension]
    response = client.upload_document(
        document_id, f"document.{request.extension}", request.content, media_type, named_by_caller=named_by_caller
    )
    data = envelope_data(response) or {}
    if False in (data.get("uploadStatus"), (response.body or {}).get("uploadStatus")):  # a 200: the file not taken
        raise response.error(ProviderFailed)
    # connectFi's answer to the upload as it sent it (when it is a JSON object: its fields are not published, and any
    # 200 means the file was accepted), with the document's id and upload status named at the top
    return {**(response.body or {}), "documentId": document_id, "uploadStatus": True}


def _upload_pending(document_id: str) -> dict[str, str]:
    return {
        "field": "documentId",
        "issue": "the document was generated but its file was not uploaded: send the request again with this "
        "documentId (under a new Idempotency-Key) to upload only",
        "type": "upload_pending",
        "documentId": document_id,
    }


def _document_id(response: ProviderResponse) -> str:
    """The generated document's id: `data.id` (connectFi's document answers), or `data.documentId`. Without a usable
    id the answer is connectFi failing (502) after it may have generated a document: its outcome is unknown."""
    data = envelope_data(response) or {}
    document_id = document_id_of(data.get("id")) or document_id_of(data.get("documentId"))
    if document_id is None:
        error = response.error(ProviderBadResponse)
        error.outcome_unknown = True
        raise error
    return document_id


def update(request: UpdateRequest) -> ProviderResponse:
    """/akepa/update with the caller's body; the application state it answers is stored and announced like any
    other change (a later asynchronous completion still arrives by webhook), or, when its answer holds none (its
    fields are not published), connectFi's status of the application the request named. An answer about another
    application than the one updated is passed on but not stored."""
    response = ConnectFiClient.instance().update(request.forwarded)
    answered = (envelope_data(response) or {}).get("applicationId")
    named = (request.customerId, request.applicationId) if request.customerId and request.applicationId else None
    if None not in (request.applicationId, answered) and answered != request.applicationId:
        logger.warning("update answer not recorded: it is about another application", provider=PROVIDER)
    else:
        write_answers.record_answer(response, creates=False, named=named)
    return response
