"""POST /cladfy/krapin: KRA PIN details from Cladfy (Kenya)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers import cladfy

lambda_handler = http_route("cladfy.krapin", cladfy.KraPinRequest, cladfy.kra_pin_details)
