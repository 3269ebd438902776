"""connectFi's success bodies and the gateway's own answers on its routes. connectFi's pages show the application
envelope by example only; the step-up pages name the generated document's `data.id` and nothing else of the
document answers. The stored application and the webhook's acknowledgement are the gateway's: exact."""

from __future__ import annotations

from kyc_gateway.answers import answer, by_example, ref
from kyc_gateway.providers.connectfi.common import DOCUMENT_ID_SCHEMA

# connectFi's success code: the gateway passes an answer only when it reads as "0" (the examples' string).
_CODE = {"type": ["string", "integer"], "enum": ["0", 0], "description": 'connectFi\'s success code, "0"'}
_ID = {"type": "string", "pattern": "^[0-9a-zA-Z_]+$", "minLength": 1, "maxLength": 36}
_STATUS = (
    "e.g. pending_step_up, pending_documents, waiting_review, pending_journey_application_review, running, "
    "data_request, completed (connectFi may add others)"
)
_STORED = {"type": ["string", "null"]}
_STORED_FIELDS = {
    "applicationId": _ID,
    "customerId": _STORED,
    "reference": _STORED,
    "aggregatorId": _STORED,
    "status": {**_STORED, "description": _STATUS},
    "outcome": _STORED,
    "entityApplications": {"type": "array", "items": ref("EntityApplication")},
    "createdAt": {"type": "string", "description": "when the gateway first stored it (ISO 8601, UTC)"},
    "updatedAt": {"type": "string", "description": "when its state last changed (ISO 8601, UTC)"},
}

SCHEMAS = {
    "ApplicationAnswer": answer(
        "connectFi's application envelope as connectFi sends it: the answer to an identification or a status.",
        {"code": _CODE, "data": ref("ApplicationState"), "requestId": by_example("string", "connectFi's request id")},
        required=("code", "data"),
    ),
    "UpdateAnswer": answer(
        "connectFi's answer to an update as connectFi sends it: its success code; its data, when it holds one, the "
        "application's state (connectFi publishes no field of this answer).",
        {
            "code": _CODE,
            "data": {"description": "the application's state (ApplicationState) in connectFi's pages; any JSON value"},
            "requestId": by_example("string", "connectFi's request id"),
        },
        required=("code",),
    ),
    "ApplicationState": answer(
        "An application's state, as connectFi's examples show it.",
        {
            "applicationId": by_example("string", "iapp_..."),
            "aggregatorId": by_example("string"),
            "customerId": by_example("string"),
            "reference": by_example("string", "the caller's reference given at identification"),
            "status": by_example("string", _STATUS),
            "outcome": by_example("string", "Approved or Denied once completed (capitalised in the examples)"),
            "entityApplications": by_example({"type": "array", "items": ref("EntityApplication")}),
        },
    ),
    "EntityApplication": answer(
        "One entity of an application: the customer itself, or a related party of a business.",
        {
            "entityId": by_example("string"),
            "isCustomer": by_example("boolean"),
            "status": by_example("string", _STATUS),
            "outcome": by_example("string", "approved or denied once completed (lower case in the examples)"),
        },
    ),
    "DocumentAnswer": answer(
        "connectFi's answer to the image's upload as connectFi sends it, with the document's id and upload status "
        "named at the top by the gateway.",
        {
            "documentId": {
                **DOCUMENT_ID_SCHEMA,
                "description": "the document generated (connectFi's data.id) or named by the caller",
            },
            "uploadStatus": {"type": "boolean", "const": True},
            "code": _CODE,
            # no type: connectFi publishes none, and the gateway passes any 200's data on (null and a string seen)
            "data": {"description": "connectFi's upload answer, any JSON value (its fields are not published)"},
            "requestId": by_example("string", "connectFi's request id"),
        },
        # connectFi publishes no field of its upload answer: only what the gateway adds is certain
        required=("documentId", "uploadStatus"),
    ),
    "StoredApplication": answer(
        "The application's latest state the gateway confirmed with connectFi and stored: connectFi's values, null "
        "where connectFi gave none.",
        _STORED_FIELDS,
        required=tuple(_STORED_FIELDS),  # every field, always
    ),
    "WebhookAccepted": answer(
        "The webhook is on the gateway's queue: it will be confirmed with connectFi and stored.",
        {"status": {"type": "string", "const": "accepted"}},
        required=("status",),
    ),
}
ANSWERS = {
    "connectfi.identification": "ApplicationAnswer",
    "connectfi.status": "ApplicationAnswer",
    "connectfi.update": "UpdateAnswer",
    "connectfi.documents": "DocumentAnswer",
    "connectfi.application": "StoredApplication",
    "connectfi.webhook": "WebhookAccepted",
}
