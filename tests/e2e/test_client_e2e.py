"""The caller kit against `make run`, as a new service uses it: every caller route in a few lines, signed requests,
Idempotency-Key replays and typed errors."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from botocore.credentials import Credentials
from kyc_gateway_client import GatewayClient, InvalidRequest, NotFound, ProviderRejected

from project import template as cfn
from tests.support import client_package
from tests.support.samples import CDP_ONBOARDING_BODY

CUSTOMER = "cstap_clientE2e01"
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0client-e2e\xff\xd9").decode()


@pytest.fixture
def gateway(sandbox_stack) -> GatewayClient:
    # The local stack does not check signatures; the client signs all the same, with the caller's credentials.
    return GatewayClient(sandbox_stack["api"], region="us-east-1", credentials=Credentials("local", "local"))


def test_a_service_calls_every_route_with_the_client(gateway):
    assert gateway.cladfy_krapin({"pinnumber": "A004416331M"}).status == 200
    assert gateway.signzy_repush({"onboardingId": "65a1b2c3d4e5f60718293a4b"}).status == 200
    onboarded = gateway.cdp_onboard_customer(CDP_ONBOARDING_BODY)
    assert onboarded.status == 200 and onboarded.replayed is False
    id_detail = CDP_ONBOARDING_BODY["id_details"][0]
    lookup = {"idNumber": id_detail["id_number"], "idType": str(id_detail["id_type"])}
    assert gateway.cdp_customer_lookup(lookup).status == 200

    started = gateway.connectfi_identification({"customerId": CUSTOMER, "reference": "client1"})
    application_id = started.body["data"]["applicationId"]
    assert gateway.connectfi_status({"customerId": CUSTOMER, "applicationId": application_id}).status == 200
    document = {"workflow": "PERSONAL", "name": "License", "extension": "jpg", "type": "license", "file": JPEG}
    documents = [
        {"documentId": gateway.connectfi_documents(document).body["documentId"], "side": side}
        for side in ("front", "back")
    ]
    target = {"customerId": CUSTOMER, "applicationId": application_id, "entityId": CUSTOMER}
    updated = gateway.connectfi_update({**target, "documents": documents}, correlation_id="client-e2e-1")
    assert updated.body["data"]["status"] == "completed" and updated.correlation_id == "client-e2e-1"
    assert gateway.connectfi_application(application_id).body["status"] == "completed"


def test_a_write_sent_again_with_its_key_is_replayed_not_repeated(gateway):
    body = {"customerId": CUSTOMER, "reference": "clientReplay1"}
    first = gateway.connectfi_identification(body, idempotency_key="client-e2e-replay")
    again = gateway.connectfi_identification(body, idempotency_key="client-e2e-replay")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.body == first.body


def test_errors_arrive_as_typed_exceptions_with_the_envelope(gateway):
    with pytest.raises(InvalidRequest) as invalid:
        gateway.cladfy_krapin({"pinnumber": "not a pin"}, correlation_id="client-e2e-400")
    assert (invalid.value.code, invalid.value.correlation_id) == ("validation_error", "client-e2e-400")
    assert invalid.value.details and invalid.value.details[0]["field"] == "pinnumber"

    with pytest.raises(NotFound) as missing:
        gateway.connectfi_application("iapp_neverStored1")
    assert missing.value.code == "application_not_found"

    started = gateway.connectfi_identification({"customerId": CUSTOMER, "reference": "clientDone1"})
    target = {"customerId": CUSTOMER, "applicationId": started.body["data"]["applicationId"], "entityId": CUSTOMER}
    unknown = [{"documentId": "doc_unknown", "side": "front"}]
    with pytest.raises(ProviderRejected) as refused:
        gateway.connectfi_update({**target, "documents": unknown})
    assert (refused.value.code, refused.value.provider, refused.value.provider_code) == (
        "document_not_found",
        "connectfi",
        "documentNotFound",
    )
    assert refused.value.provider_request_id


def test_the_readmes_example_runs_with_the_installed_client_against_the_local_stack(sandbox_stack, tmp_path):
    # Given the client pip-installed from its path, and the README's example pointed at this test's stack
    readme = (cfn.ROOT / "README.md").read_text()
    example = readme.split("## Calling it from Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'GatewayClient("http://127.0.0.1:3000", sign=False)' in example
    installed = client_package.install(tmp_path)

    # When it runs as written, unsigned
    printed = client_package.run(installed, example.replace("http://127.0.0.1:3000", sandbox_stack["api"]))

    # Then it prints the taxpayer's name and the started application's status
    taxpayer, status = printed.splitlines()
    assert taxpayer.split()[0] and status.split()[0] == "pending_step_up"


def test_the_client_docs_use_example_runs_against_the_local_stack_to_its_conflict(sandbox_stack):
    # Given docs/client.md's "Use" example, its deployed gateway swapped for this test's stack, unsigned
    page = (cfn.ROOT / "docs" / "client.md").read_text(encoding="utf-8")
    example = page.split("## Use", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    deployed = 'GatewayClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod", region="eu-west-1")'
    assert deployed in example
    local = example.replace(deployed, f'GatewayClient("{sandbox_stack["api"]}", sign=False)')

    # When it runs as written, with the client's source importable
    result = subprocess.run(  # noqa: S603 - the repository's own page
        [sys.executable, "-c", local],
        env={**os.environ, "PYTHONPATH": str(cfn.ROOT / "clients" / "python" / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then it runs through, its invalid PIN caught, and its last call caught as the conflict its comment names
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed[1].startswith("validation_error ") and printed[-1] == "idempotency_key_reused"
