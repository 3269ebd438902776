"""CDP's success bodies: Customer Lookup v2 has a response table (types, no mandatory column); Individual
Onboarding shows its answer by example only."""

from __future__ import annotations

from kyc_gateway.answers import answer, by_example, documented, ref

_SUCCESS = {"type": "string", "const": "success", "description": "the gateway passes no other status"}

SCHEMAS = {
    "CustomerLookupAnswer": answer(
        "CDP's Customer Lookup v2 answer as CDP sends it (the gateway passes only `status` success with `data`).",
        {
            "status": _SUCCESS,
            "statusCode": documented("integer", "200 on success"),
            "errorCode": documented("integer", "only when an error was encountered"),
            "message": documented("string"),
            "data": ref("CustomerLookupData"),
        },
        required=("status", "data"),
    ),
    "CustomerLookupData": answer(
        "The customer CDP found, as its response table types it.",
        {
            "ecrn": documented("string", "the customer's unique identification number"),
            "first_name": documented("string"),
            "middle_name": documented("string"),
            "last_name": documented("string"),
            "agent_location_id": documented("string", "the onboarding agent"),
            "primary_mobile_number": documented("string"),
            "email_id": documented("string"),
            "customer_status": documented("string", "ACTIVE, KYC_PENDING, INACTIVE, REJECTED or BLOCKED"),
            "aml_scan_status": documented("string", "Accepted, Rejected, Under Investigation or Failed"),
            "id_status": documented("string", "Active, Expired or Inactive"),
            "id_date_of_expiry": documented("string", "a date (the table says YYYY-MM-DD; the example has a time)"),
        },
    ),
    "OnboardingAnswer": answer(
        "CDP's Individual Onboarding answer as CDP sends it (shown by example only; the gateway passes only "
        "`status` success with the ECRN in `data`).",
        {
            "status": _SUCCESS,
            "data": ref("OnboardingData"),
            "status_code": by_example("integer"),
            "request_id": by_example("string", "CDP's id of the request"),
        },
        required=("status", "data"),
    ),
    "OnboardingData": answer(
        "The onboarded customer, as CDP's example shows it.",
        {
            "aml_scan_status": by_example("string", "e.g. Accepted"),
            "ecrn": {
                "type": ["string", "integer"],
                "minLength": 1,
                "description": "the customer's unique identification number (a string, as the lookup's response "
                "table types it, or a number: this answer is shown only by example; the gateway passes no success "
                "without one)",
            },
            "customer_status": by_example("string", "e.g. ACTIVE"),
            "pep": by_example("boolean", "a politically exposed person"),
            "aml_category": by_example("integer"),
        },
        required=("ecrn",),
    ),
}
ANSWERS = {"cdp.customer_lookup": "CustomerLookupAnswer", "cdp.onboard_individual": "OnboardingAnswer"}
