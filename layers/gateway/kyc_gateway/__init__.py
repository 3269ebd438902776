"""KYC provider gateway: the shared layer every function imports (settings, errors, HTTP, tokens, API adapter)."""
