"""GET /connectfi/applications/{applicationId}: the latest status confirmed by the webhook processor."""

from kyc_gateway.api import http_route, parse_path
from kyc_gateway.providers.connectfi import webhooks

lambda_handler = http_route(
    "connectfi.application", webhooks.ApplicationPath, webhooks.stored_application, parse=parse_path
)
