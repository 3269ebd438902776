"""POST /signzy/onboardings/repush: re-push an investor onboarding to the KRA through Signzy EzKRA (India)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers import signzy

lambda_handler = http_route(
    "signzy.repush", signzy.RepushRequest, signzy.repush, idempotent_write=signzy.REPUSH_OUTCOME_CHECK
)
