"""KYC provider gateway: the shared layer every function imports (settings, errors, HTTP, tokens, API adapter)."""

from kyc_gateway import cold_start as _cold_start  # noqa: F401 - first: the cold start runs without cyclic collection
