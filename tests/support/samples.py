"""Sample requests shared by several test modules."""

from __future__ import annotations

import json
from pathlib import Path

# CDP's documented Individual Onboarding payload, every field filled (the document's example, with real base64).
CDP_ONBOARDING_BODY = json.loads((Path(__file__).with_name("cdp_onboarding_request.json")).read_text())
