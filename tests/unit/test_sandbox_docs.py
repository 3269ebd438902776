"""docs/sandbox.md's operations table is the sandbox's route table: every operation it serves is listed (connectFi's
step-up included), under the name its calls are counted and its faults are injected with, and nothing else."""

from __future__ import annotations

import json
import re

from local.sandbox import ProviderSandbox
from project import template as cfn

DOC = cfn.ROOT / "docs" / "sandbox.md"
ROW = re.compile(r"^\| (\w+) \| `(\w+)` \| `([A-Z]+ /\S*)` \|$", re.MULTILINE)


def documented_operations() -> set[tuple[str, str, str]]:
    """(provider, operation, endpoint) of each row of the doc's operations table."""
    section = DOC.read_text(encoding="utf-8").split("### Operations", 1)[1].split("\n#", 1)[0]
    return set(ROW.findall(section))


def test_the_doc_lists_every_operation_the_sandbox_serves_and_no_other():
    # Given the sandbox's own route table (a sandbox built, not started)
    secrets = json.loads((cfn.ROOT / "local" / "secrets.local.json").read_text(encoding="utf-8"))
    served = {
        (provider, operation, endpoint)
        for provider, operations in ProviderSandbox(secrets).operations().items()
        for operation, endpoint in operations.items()
    }

    # Then the doc's table names each one, with its endpoint, and nothing it does not serve
    assert documented_operations() == served
    assert ("connectfi", "document_upload", "POST /akepa/document/upload/{documentId}") in served
