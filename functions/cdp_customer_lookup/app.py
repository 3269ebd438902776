"""POST /cdp/customers/lookup: CDP Customer Lookup v2 (UAE)."""

from kyc_gateway.api import http_route
from kyc_gateway.providers import cdp

lambda_handler = http_route("cdp.customer_lookup", cdp.CustomerLookupRequest, cdp.customer_lookup)
