"""POST /connectfi/documents: generate a connectFi document and upload its image (US KYC/KYB step-up)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers.connectfi import stepup

lambda_handler = http_route(
    "connectfi.documents",
    stepup.DocumentRequest,
    stepup.attach_document,
    idempotent_write=stepup.DOCUMENT_OUTCOME_CHECK,
)
