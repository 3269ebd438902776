"""POST /connectfi/identification: start a connectFi KYC/KYB identification (US)."""

from typing import Any

from kyc_gateway.api import http_route, parse_body, public_base_url, request_base_url
from kyc_gateway.providers.connectfi import identification, write_answers


def parse(event: dict[str, Any], model: type[identification.Identification]) -> identification.Identification:
    """The caller's body, and the gateway's public URL for connectFi's callbacks (known only at the API edge); a
    caller's own webhook URL is checked against it and the URL the request came in at (both the gateway's)."""
    body = parse_body(event, identification.IdentificationRequest)
    return model.checked(body, public_base_url(event), also_own=request_base_url(event))


lambda_handler = http_route(
    "connectfi.identification",
    identification.Identification,
    write_answers.recorded(identification.identification),  # reconciliation follows it even if no webhook comes
    parse=parse,
    idempotent_write=identification.IDENTIFICATION_OUTCOME_CHECK,
    body_model=identification.IdentificationRequest,
)
