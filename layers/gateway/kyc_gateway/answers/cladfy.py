"""Cladfy's success bodies: its KRA PIN page's response table marks every field required."""

from __future__ import annotations

from kyc_gateway.answers import answer, documented, ref
from kyc_gateway.providers.cladfy import DETAIL_FIELDS, SUCCESS_FIELDS

SCHEMAS = {
    "KraPinAnswer": answer(
        "Cladfy's KRA PIN details as Cladfy sends them (the gateway passes only an answer with `success` true and "
        "every field of Cladfy's table, of its type: any other is a 502).",
        {
            "success": {"type": "boolean", "const": True},
            "response_code": documented("integer", "200 in Cladfy's example"),
            "message": documented("string"),
            "data": ref("KraPinDetails"),
            "request_id": documented("string", "Cladfy's id of the request"),
        },
        required=tuple(SUCCESS_FIELDS),
    ),
    "KraPinDetails": answer(
        "The taxpayer registered under the PIN, each field a string (`X` flags such as `Vat` included).",
        {field: documented("string") for field in DETAIL_FIELDS},
        required=DETAIL_FIELDS,
    ),
}
ANSWERS = {"cladfy.krapin": "KraPinAnswer"}
