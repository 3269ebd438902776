"""POST /connectfi/webhooks/{token}: receive a connectFi callback and put it on the webhook queue (202)."""

from typing import Any

from kyc_gateway.api import http_route, path_parameter, raw_body
from kyc_gateway.providers.connectfi import webhooks


def parse(event: dict[str, Any], model: type[webhooks.Delivery]) -> webhooks.Delivery:
    """The URL's token and the body, unread: the token is checked before anything of the body."""
    return model(token=path_parameter(event, "token"), body=raw_body(event))


lambda_handler = http_route(
    "connectfi.webhook", webhooks.Delivery, webhooks.ingest, parse=parse, status=202, body_model=webhooks.Signal
)
