"""POST /connectfi/update: attach uploaded documents to a connectFi application (US KYC/KYB step-up)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers.connectfi import stepup

lambda_handler = http_route(
    "connectfi.update", stepup.UpdateRequest, stepup.update, idempotent_write=stepup.UPDATE_OUTCOME_CHECK
)
