"""Local provider sandbox: one HTTP server standing in for every provider of the registry
(kyc_gateway/registry.py). Standard library only.

It follows the provider documents (field names, shapes, status codes and error envelopes), including each
documented failure, selectable by the magic inputs listed in docs/sandbox.md.

    python -m local.sandbox --port 4010 --secrets local/secrets.local.json

Each provider lives under its own path prefix (see `ProviderSandbox.base_urls`) and in its own module here (the
registry entry's `sandbox`); the admin endpoints live under `/_sandbox/`. Logs carry only method, path and status:
never bodies, tokens or personal data.
"""

from __future__ import annotations

from local.sandbox.cdp import CDP_COUNTRIES
from local.sandbox.common import Provider, Reply, Request, TokenStore
from local.sandbox.schema import ajv_errors, js_regex
from local.sandbox.server import ProviderSandbox

__all__ = [
    "CDP_COUNTRIES",
    "Provider",
    "ProviderSandbox",
    "Reply",
    "Request",
    "TokenStore",
    "ajv_errors",
    "js_regex",
]
