"""A typed Python client of the KYC provider gateway: SigV4 signing, Idempotency-Keys, retries, typed answers
(kyc_gateway_client.answers) and typed errors."""

from kyc_gateway_client.client import ROUTES, GatewayClient, Response
from kyc_gateway_client.errors import (
    ClientMisconfigured,
    CredentialsUnavailable,
    GatewayError,
    IdempotencyConflict,
    InvalidBaseUrl,
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
    "ClientMisconfigured",
    "CredentialsUnavailable",
    "GatewayClient",
    "GatewayError",
    "IdempotencyConflict",
    "InvalidBaseUrl",
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
# The release's version (tags are v + it): the package metadata, openapi.json and the release check read it here.
__version__ = "1.0.0"
