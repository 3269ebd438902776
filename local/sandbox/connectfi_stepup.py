"""connectFi's step-up in the sandbox: documents generated (checked against connectFi's published schema), their
files uploaded as multipart/form-data only, and /akepa/update attaching them to an application's entity.

connectFi does not publish /akepa/update's property table; the sandbox reads it strictly as its description tells:
`customerId`, `applicationId`, `entityId` and `documents` (`documentId`, `side`: `front` or `back`), nothing else.
An entity with a front and a back document attached completes (approved); with one side only it stays
`pending_step_up`. An application whose reference starts with REVIEW goes to `waiting_review` instead, and a
manual review completes it later, with a webhook. Nothing can be attached to a completed application.
"""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from local.sandbox.common import Handler, Reply, Request, json_reply, random_alnum, random_hex
from local.sandbox.connectfi_core import COMMON_ID, NO_MARKUP, Application, ConnectFiCore, error, unauthorized

DOCUMENT_TYPES = [
    "contract", "license", "passport", "utility", "other", "internal", "identification_card", "residence_permit",
    "canada_provincial_id", "indigenous_card", "paystub", "bank_statement", "w2", "1099", "1120", "1065", "t1", "t4",
]  # fmt: skip
GENERATE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["workflow", "name", "extension", "type"],
    "properties": {
        "workflow": {"type": "string", "enum": ["BUSINESS", "PERSONAL"]},
        "name": {"type": "string", "pattern": NO_MARKUP, "minLength": 1, "maxLength": 50, "isNotOnlyWhitespace": True},
        "extension": {"type": "string", "enum": ["jpg", "png"]},
        "type": {"type": "string", "enum": DOCUMENT_TYPES},
        "note": {"type": "string", "pattern": NO_MARKUP, "minLength": 0, "maxLength": 500, "nullable": True},
        "note_author_agent_email": {"type": "string", "format": "email"},
    },
}
UUID = {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
DOCUMENT_IDS = {"common-id": COMMON_ID, "uuid": UUID}  # connectFi publishes neither: the sandbox plays each
# An upload to an unknown document: connectFi's step-up page says only "400", its error list has documentNotFound.
UNKNOWN_UPLOAD_REFUSALS = {
    "documentNotFound": lambda document_id: error(
        400, "documentNotFound", "Document not found.", context={"documentId": document_id}
    ),
    "message": lambda document_id: json_reply(400, {"message": "Document not found."}),
    "empty": lambda document_id: Reply(400, b""),
}


def update_schema(document_id: dict) -> dict:
    """/akepa/update's schema, its documents named by ids of the form `document_id`."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["customerId", "applicationId", "entityId", "documents"],
        "properties": {
            "customerId": COMMON_ID,
            "applicationId": COMMON_ID,
            "entityId": COMMON_ID,
            "documents": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["documentId", "side"],
                    "properties": {"documentId": document_id, "side": {"type": "string", "enum": ["front", "back"]}},
                },
            },
        },
    }


REVIEW_PREFIX = "REVIEW"  # a reference that sends the application to manual review after its documents
# Documents uploaded for the seeded application's customer: the sample update event attaches them.
SAMPLE_FRONT, SAMPLE_BACK = "doc_sampleFrontLicense00001", "doc_sampleBackLicense000001"


@dataclass
class Document:
    extension: str
    uploaded: bool = False


class StepUp:
    """The step-up routes of the connectFi sandbox, on the applications of its core."""

    def __init__(self, core: ConnectFiCore, options: Mapping[str, Any]) -> None:
        self.core = core
        self.lock = core.lock
        self.document_id_field = options["connectfi_document_id_field"]  # where a generated document's id is answered
        self.document_ids = options["connectfi_document_ids"]  # the form of a generated document's id
        self.update_schema = update_schema(DOCUMENT_IDS[self.document_ids])
        self.unknown_upload = UNKNOWN_UPLOAD_REFUSALS[options["connectfi_unknown_upload"]]
        self.documents: dict[str, Document] = {}
        self.attached: dict[tuple[str, str], set[str]] = {}  # the sides attached so far, by application and entity
        self.seed()

    def routes(self) -> dict[tuple[str, str], tuple[str, Handler]]:
        return {
            ("POST", "/akepa/document/generate"): ("document_generate", self.generate_document),
            ("POST", "/akepa/document/upload/{documentId}"): ("document_upload", self.upload_document),
            ("POST", "/akepa/update"): ("update", self.update),
        }

    def seed(self) -> None:
        """Only the sample documents, uploaded (the sample update event attaches them); nothing attached."""
        with self.lock:
            self.documents = {SAMPLE_FRONT: Document("jpg", True), SAMPLE_BACK: Document("jpg", True)}
            self.attached = {}

    def generate_document(self, request: Request) -> Reply:
        body, failure = self.core.accepted(request, GENERATE_SCHEMA)
        if failure:
            return failure
        document_id = str(uuid.uuid4()) if self.document_ids == "uuid" else "doc_" + random_alnum(22)
        with self.lock:
            self.documents[document_id] = Document(body["extension"])
        data = {self.document_id_field: document_id}
        return json_reply(200, {"code": "0", "data": data, "requestId": random_hex(32)})

    def upload_document(self, request: Request) -> Reply:
        """The file in a multipart/form-data field `file`; a JSON body (or none) has no file."""
        if not self.core.authorized(request):
            return unauthorized()
        document_id = unquote(request.path.rsplit("/", 1)[1])  # one path segment, percent-encoded
        with self.lock:
            document = self.documents.get(document_id)
        if document is None:
            return self.unknown_upload(document_id)
        content = _multipart_file(request)
        if not content:
            return error(400, "fileNotFound", "File not found.")
        with self.lock:
            document.uploaded = True
        data = {"id": document_id, "uploadStatus": True, "extension": document.extension}
        return json_reply(200, {"code": "0", "data": data, "requestId": random_hex(32)})

    def update(self, request: Request) -> Reply:
        body, failure = self.core.accepted(request, self.update_schema)
        if failure:
            return failure
        with self.lock:
            application = self.core.find(body["applicationId"], body["customerId"])
            if application is None:
                return error(404, "applicationNotFound", "Application not found.")
            entity = next(
                (e for e in application.data["entityApplications"] if e["entityId"] == body["entityId"]), None
            )
            if entity is None:  # connectFi publishes no code for it: its documented one for an unknown customer
                return error(400, "customerNotFound", "Customer not found.")
            if application.data["status"] == "completed" or entity["status"] == "completed":
                return error(400, "statusApplicationEntity", "Entity has status completed.")
            for item in body["documents"]:
                document = self.documents.get(item["documentId"])
                if document is None:
                    return error(
                        400, "documentNotFound", "Document not found.", context={"documentId": item["documentId"]}
                    )
                if not document.uploaded:
                    return error(400, "fileNotFound", "File not found.")
            sides = self.attached.setdefault((body["applicationId"], body["entityId"]), set())
            sides.update(item["side"] for item in body["documents"])
            review = self._advance(application, entity, sides)
        if review:
            self.core.review(body["applicationId"], "Approved", 1)
        return json_reply(200, self.core.envelope(application))

    @staticmethod
    def _advance(application: Application, entity: dict, sides: set[str]) -> bool:
        """The entity's next status once both sides are in; True when it goes to manual review now (an entity
        already waiting for its review stays so: one review, one webhook)."""
        if sides != {"front", "back"} or entity["status"] == "waiting_review":
            return False
        review = application.data["reference"].startswith(REVIEW_PREFIX)
        if review:
            entity.update(status="waiting_review")
            application.data["status"] = "waiting_review"
            return True
        entity.update(status="completed", outcome="approved")
        if all(e["status"] == "completed" for e in application.data["entityApplications"]):
            application.data.update(status="completed", outcome="Approved")
        return False


def _multipart_file(request: Request) -> bytes:
    """The `file` field of a multipart/form-data body; empty when the body is not multipart or has no such field."""
    content_type = request.header("Content-Type")
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        return b""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True) or b""
    return b""
