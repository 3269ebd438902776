"""Sample requests shared by several test modules."""

from __future__ import annotations

import json

from project import LAYER_DIR

# CDP's Individual Onboarding example body, every field filled (the document's example, with real base64): the
# one the OpenAPI document shows.
CDP_ONBOARDING_BODY = json.loads((LAYER_DIR / "kyc_gateway" / "providers" / "cdp_onboarding_example.json").read_text())
