"""POST /connectfi/identification: start a connectFi KYC/KYB identification (US)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers import connectfi

lambda_handler = http_route(
    "connectfi.identification",
    connectfi.Identification,
    connectfi.identification,
    parse=connectfi.parse_identification,
    idempotent_write=connectfi.IDENTIFICATION_OUTCOME_CHECK,
    body_model=connectfi.IdentificationRequest,
)
