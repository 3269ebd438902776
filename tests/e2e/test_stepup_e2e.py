"""A connectFi KYC journey finished through the gateway alone, on `make run`: identification answers
`pending_step_up`; documents are generated and uploaded; an update attaches them; the application goes to manual
review and completes later, by a webhook through the gateway's own URL, the queue and the processor."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time

import requests

from project import template as cfn
from tests.e2e.test_operations_e2e import services

JPEG = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"e2e-image" + b"\xff\xd9").decode()
CUSTOMER = "cstap_e2eStepUp01"


def document(api: str, side: str) -> str:
    body = {"workflow": "PERSONAL", "name": f"Driver license {side}", "extension": "jpg", "type": "license"}
    answer = requests.post(
        f"{api}/connectfi/documents",
        json={**body, "file": JPEG},
        headers={"Idempotency-Key": f"e2e-document-{side}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["documentId"]


def test_a_journey_from_step_up_through_review_to_completed_by_webhook(sandbox_stack):
    api = sandbox_stack["api"]
    _, _, sandbox_url = services(sandbox_stack)
    # Given an identification that asks for documents (REVIEW*: the sandbox then sends it to manual review)
    started = requests.post(
        f"{api}/connectfi/identification", json={"customerId": CUSTOMER, "reference": "REVIEW42"}, timeout=30
    )
    assert started.status_code == 200, started.text
    application = started.json()["data"]
    assert application["status"] == "pending_step_up"

    # When the caller uploads the front and back of a document and attaches both
    documents = [{"documentId": document(api, side), "side": side} for side in ("front", "back")]
    update = {"customerId": CUSTOMER, "applicationId": application["applicationId"], "entityId": CUSTOMER}
    updated = requests.post(
        f"{api}/connectfi/update",
        json={**update, "documents": documents},
        headers={"Idempotency-Key": "e2e-update-1"},
        timeout=30,
    )

    # Then the application waits for review, as stored by the gateway
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["status"] == "waiting_review"
    stored = requests.get(f"{api}/connectfi/applications/{application['applicationId']}", timeout=10).json()
    assert stored["status"] == "waiting_review"

    # And the review's completion arrives by webhook and is processed into the stored state
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and stored.get("status") != "completed":
        time.sleep(0.5)
        stored = requests.get(f"{api}/connectfi/applications/{application['applicationId']}", timeout=10).json()
    assert (stored.get("status"), stored.get("outcome")) == ("completed", "Approved")
    assert requests.get(f"{sandbox_url}/_sandbox/calls", timeout=10).json()["connectfi"]["webhook"] == 1

    # And nothing more can be attached to the completed application
    late = requests.post(
        f"{api}/connectfi/update",
        json={**update, "documents": [{"documentId": document(api, "late"), "side": "front"}]},
        timeout=30,
    )
    assert (late.status_code, late.json()["error"]["code"]) == (422, "invalid_application_state")


def snippet(heading: str) -> str:
    """The bash block of a section of docs/local-stack.md, as a reader copies it."""
    page = (cfn.ROOT / "docs" / "local-stack.md").read_text(encoding="utf-8")
    section = page.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    return block


def run_as_pasted(block: str, stack: dict) -> subprocess.CompletedProcess:
    """`block` in bash from the repository's root against a running stack (API is the one setting the page tells
    readers to change)."""
    return subprocess.run(  # noqa: S603 - the repository's own page
        ["bash", "-c", block],  # noqa: S607 - bash from PATH, as a reader's shell
        env={**os.environ, "API": stack["api"]},
        cwd=cfn.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_docs_journey_snippet_runs_as_pasted_against_a_running_stack(sandbox_stack):
    # Given the snippet as the page shows it, and the tools it says it needs
    assert shutil.which("curl") and shutil.which("jq"), "the journey snippet needs curl and jq on PATH"
    block = snippet("A connectFi step-up journey")

    # When it runs in bash against a running stack
    result = run_as_pasted(block, sandbox_stack)

    # Then it prints what the page says: the update's status, then the completed application
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["waiting_review", '{"status":"completed","outcome":"Approved"}']


def test_the_docs_webhook_sent_by_hand_runs_as_pasted_and_its_state_is_the_confirmed_one(sandbox_stack):
    # Given the page's webhook sent by hand: an application whose webhook the sandbox never sends, then one by curl
    assert shutil.which("curl") and shutil.which("jq"), "the snippet needs curl and jq on PATH"

    # When it runs in bash against a running stack
    result = run_as_pasted(snippet("A connectFi webhook sent by hand"), sandbox_stack)

    # Then the webhook is accepted, and the state stored is the one the sandbox confirmed, as the page says
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["202", '{"status":"completed","outcome":"Approved"}']
