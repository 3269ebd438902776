"""local/secrets.local.json: the fake secrets of the local stack (`make run`, `make invoke`, the tests), one section
per secret, from each sandbox provider module's `LOCAL_SECRETS`, and the audit trail's fingerprint key. A file, as
the sandbox and `make run` take another (`--secrets`, `LOCAL_SECRETS_FILE`); `python -m generators.local_secrets`
rewrites it, a test fails when it is stale.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from kyc_gateway.registry import PROVIDERS
from project import ROOT

DOCUMENT = ROOT / "local" / "secrets.local.json"
COMMENT = "FAKE credentials for the local stack and its provider sandbox only. Never real values. Generated."
# The audit key secret's shape (kyc_gateway.audit.AuditKeys), with a fake key: AuditKeySecret's section.
LOCAL_AUDIT_KEY = {"auditkey": {"current": "v1", "v1": "local-audit-fingerprint-key-not-real-0123456789abcdef"}}


def document() -> dict[str, Any]:
    secrets: dict[str, Any] = {"_comment": COMMENT}
    for entry in PROVIDERS:
        secrets |= importlib.import_module(entry.sandbox).LOCAL_SECRETS
    return secrets | LOCAL_AUDIT_KEY


def render() -> str:
    return json.dumps(document(), indent=2) + "\n"


if __name__ == "__main__":
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
