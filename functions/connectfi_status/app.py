"""POST /connectfi/status: the current state of a connectFi identification (US)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers.connectfi import client as connectfi

lambda_handler = http_route("connectfi.status", connectfi.StatusRequest, connectfi.status)
