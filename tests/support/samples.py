"""Sample requests shared by several test modules, and the strings a privacy check looks for in what they leave."""

from __future__ import annotations

import json

from project import LAYER_DIR

# CDP's Individual Onboarding example body, every field filled (the document's example, with real base64): the
# one the OpenAPI document shows.
CDP_ONBOARDING_BODY = json.loads((LAYER_DIR / "kyc_gateway" / "providers" / "cdp_onboarding_example.json").read_text())


def leaves(value: object) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value] if isinstance(value, str) else []
