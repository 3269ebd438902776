"""POST /cdp/customers: CDP Individual Onboarding (UAE)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers import cdp

lambda_handler = http_route(
    "cdp.onboard_individual",
    cdp.OnboardingRequest,
    cdp.onboard_individual,
    idempotent_write=cdp.ONBOARDING_OUTCOME_CHECK,
)
