"""A typed Python client of the KYC provider gateway: SigV4 signing, Idempotency-Keys, retries, typed errors."""

from kyc_gateway_client.client import ROUTES, GatewayClient, Response
from kyc_gateway_client.errors import (
    GatewayError,
    IdempotencyConflict,
    InvalidRequest,
    NotAuthorized,
    NotFound,
    ProviderFailed,
    ProviderRejected,
    ProviderTimeout,
    RateLimited,
    TransportError,
)

__all__ = [
    "ROUTES",
    "GatewayClient",
    "GatewayError",
    "IdempotencyConflict",
    "InvalidRequest",
    "NotAuthorized",
    "NotFound",
    "ProviderFailed",
    "ProviderRejected",
    "ProviderTimeout",
    "RateLimited",
    "Response",
    "TransportError",
]
__version__ = "0.1.0"
