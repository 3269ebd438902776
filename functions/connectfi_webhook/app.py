"""POST /connectfi/webhooks/{token}: receive a connectFi callback and put it on the webhook queue (202)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers.connectfi import webhooks

lambda_handler = http_route(
    "connectfi.webhook",
    webhooks.Delivery,
    webhooks.ingest,
    parse=webhooks.parse_delivery,
    status=202,
    body_model=webhooks.Signal,
)
