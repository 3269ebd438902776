"""SnapStart's hooks (kyc_gateway/snapstart.py), run as Lambda's runtime runs them, in a fresh interpreter per function
(tests/support/snapstart_instance.py): what a function's snapshot holds, that taking it reaches nothing, and that
instances restored from one snapshot do not share what must be theirs. That a restored instance then serves its first
request is `make bench`'s primed probe (tests/e2e/test_bench_e2e.py)."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import subprocess
import sys

import pytest

from kyc_gateway.aws import SERVICES
from kyc_gateway.registry import BY_LOGICAL_ID, BY_NAME
from local.functions import load_handler
from project import template as cfn
from tests.integration.test_deployed_template import of_type, policy_statements, transformed
from tests.support import snapstart_instance


@functools.cache
def template() -> dict:
    return cfn.load()


def instance(logical_id: str, mode: str) -> dict:
    spec = cfn.functions(template())[logical_id]
    completed = subprocess.run(  # noqa: S603 - our own helper, fixed arguments
        [sys.executable, snapstart_instance.__file__, str(spec.code_dir), spec.module, mode],
        env={"PATH": os.environ["PATH"], **snapstart_instance.environment(logical_id, template())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def actions_each_role_may_call() -> dict[str, set[str]]:
    """Per function, the actions (`dynamodb:GetItem`) of the gateway's AWS services (kyc_gateway.aws.SERVICES) its
    deployed role allows."""
    template = transformed("dev")
    resources = template["Resources"]
    found = {}
    for name, function in of_type(template, "AWS::Lambda::Function").items():
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        found[name] = {
            action
            for statement in policy_statements(template, role)
            if statement["Effect"] == "Allow"
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
            if action.split(":")[0] in SERVICES and action not in NOT_CALLED_BY_THE_CODE
        }
    return found


@pytest.mark.parametrize("logical_id", ["CdpOnboardingFunction", "ConnectFiWebhookFunction"])
def test_under_lambdas_container_credentials_a_snapshot_reads_the_roles_credentials_once_and_reaches_nothing_else(
    logical_id,
):
    # Given the function's instance with the role's credentials where Lambda puts them under SnapStart: its
    # container credentials endpoint, not environment variables
    # When Lambda takes its snapshot
    snapshot = instance(logical_id, "snapshot-container")

    # Then its one request is the read of the role's credentials (with the token Lambda gives), which every client
    # shares: they are in the snapshot, as in any init that makes an AWS client; nothing of AWS or a provider is
    assert snapshot["credential_reads"] == ["lambda-given"]
    assert snapshot["connections"] == []
    assert snapshot["primed"]["aws_clients"] and not snapshot["primed"]["unrehearsed"]


@pytest.mark.parametrize("logical_id", list(cfn.functions()))
def test_a_functions_snapshot_holds_what_its_first_request_loads_and_reaches_nothing(
    logical_id, actions_each_role_may_call
):
    # Given the function's instance, its handler imported as Lambda imports it (its hooks registered by the layer)
    # When Lambda takes its snapshot
    snapshot = instance(logical_id, "snapshot")

    # Then one hook was run and one waits for the restore, and taking the snapshot tried no connection at all: no
    # secret, no token, nothing of AWS or a provider is in it
    assert snapshot["registered"] == [1, 1]
    assert snapshot["connections"] == []
    # nor any thread of the gateway's (a provider call's deadline watchdog starts with the first call): only the
    # test's own loopback server
    assert "provider-deadline-watchdog" not in snapshot["threads"] and len(snapshot["threads"]) == 1
    # And it holds a client of every AWS service the function's role may call, its provider's client, the
    # Idempotency-Key layer if its route honours keys, and the validators of its route's models
    primed, entry = snapshot["primed"], BY_LOGICAL_ID[logical_id]
    allowed = actions_each_role_may_call[logical_id]
    assert set(primed["aws_clients"]) == {action.split(":")[0] for action in allowed}
    assert set(primed["quick_aws_clients"]) <= set(primed["aws_clients"])
    # And each AWS operation its role allows was rehearsed through the client that makes it (an empty answer given
    # in-process: nothing was sent, above), and none failed
    rehearsed = {name.removesuffix(" (quick)").replace(".", ":") for name in primed["rehearsed"]}
    for action in allowed - NOT_CALLED_BY_THE_CODE:
        assert fnmatch.filter(rehearsed, action), f"{logical_id} may call {action}: not rehearsed"
    assert primed["unrehearsed"] == []
    # And each client has its service's errors indexed by code (a first error answer's work otherwise)
    quick = [f"{service} (quick)" for service in primed["quick_aws_clients"]]
    assert snapshot["errors_loaded"] == primed["aws_clients"] + quick
    assert primed.get("provider") == entry.provider  # a log line leaves out what is None
    assert primed["idempotency_layer"] is entry.write
    contract = getattr(load_handler(cfn.functions()[logical_id]), "contract", None)
    route_models = (
        {model.__qualname__ for model in (contract.body_model, contract.path_model) if model} if contract else set()
    )
    assert route_models <= set(primed["models"])
    assert "Settings" in primed["models"]
    # And docs/performance.md says so
    assert documented_preload(logical_id) == (
        {SERVICE_LABELS[service] for service in primed["aws_clients"]},
        BY_NAME[entry.provider].label if entry.provider else "none",
        "yes" if primed["idempotency_layer"] else "no",
    )


def test_every_aws_operation_the_layer_calls_is_rehearsed_by_a_setting_naming_what_it_is_called_on():
    from botocore import xform_name
    from botocore.session import get_session

    from kyc_gateway import snapstart

    # Given every operation of the gateway's AWS services whose method the layer's code calls (client.put_item(...))
    source = "\n".join(path.read_text() for path in (cfn.ROOT / "layers" / "gateway" / "kyc_gateway").rglob("*.py"))
    session = get_session()
    called = {
        (service, operation)
        for service in SERVICES
        for operation in session.get_service_model(service).operation_names
        if re.search(rf"\.{xform_name(operation)}\(", source)
    }
    assert ("dynamodb", "TransactWriteItems") in called  # the search finds calls made through a variable too

    # Then each is rehearsed at snapshot by what a setting names (Powertools Idempotency's calls are its own: they
    # are listed by the idempotency table's use)
    rehearsed = {
        (use.service, operation)
        for use in snapstart._AWS_USES.values()
        for operation in (*use.operations, *use.quick_operations)
    }
    assert called <= rehearsed


# Actions a role allows that the function's code never calls: Lambda's own SQS poller's (the processor's queue).
# What Lambda's event source mappings do with the function's role, polling its queue or stream: never its code
NOT_CALLED_BY_THE_CODE = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}

SERVICE_LABELS = {
    "dynamodb": "DynamoDB",
    "events": "EventBridge",
    "s3": "S3",
    "secretsmanager": "Secrets Manager",
    "sqs": "SQS",
}


def documented_preload(logical_id: str) -> tuple[set[str], str, str]:
    """The function's row of the snapshot table in docs/performance.md: its AWS clients, provider client, layer."""
    text = (cfn.ROOT / "docs" / "performance.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(f"| `{logical_id}` | ")]
    (row,) = [line for line in rows if line.endswith((" | yes |", " | no |"))]
    clients, provider, layer = (cell.strip() for cell in row.split("|")[2:5])
    return {re.sub(r" \(.*\)$", "", client) for client in clients.split(", ")}, provider, layer


def test_instances_restored_from_one_snapshot_draw_their_own_jitter_and_hold_their_own_lease_and_connections():
    # Given the snapshot of a function whose provider uses tokens (its token cache takes leases in the shared table),
    # holding a keep-alive connection, and two instances started from it
    # When they start without the after-restore hook (the drill: what the hook is for)
    twins = instance("ConnectFiIdentificationFunction", "no-restore")["instances"]
    # Then they are the snapshot's twins: the same retry jitter, one lease owner (both would believe they hold a
    # renewal's lease), one shared connection
    assert twins[0]["jitter"] == twins[1]["jitter"]
    assert twins[0]["lease_owner"] == twins[1]["lease_owner"]
    assert twins[0]["pools"] == twins[1]["pools"] == 1

    # When they start as Lambda starts them, after-restore hook run
    restored = instance("ConnectFiIdentificationFunction", "restore")["instances"]
    # Then each draws its own jitter, leases under its own name and opens its own connections
    assert restored[0]["jitter"] != restored[1]["jitter"]
    assert restored[0]["lease_owner"] != restored[1]["lease_owner"]
    assert {restored[0]["lease_owner"], restored[1]["lease_owner"]}.isdisjoint({twins[0]["lease_owner"]})
    assert restored[0]["pools"] == restored[1]["pools"] == 0


def test_a_rehearsal_answers_only_itself_every_other_call_is_sent():
    import threading

    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    from kyc_gateway import snapstart

    # Given a DynamoDB client whose endpoint nothing serves
    client = boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="id",
        aws_secret_access_key="key",
        config=Config(retries={"total_max_attempts": 1}),
    )

    # When a GetItem is rehearsed on it, Then it succeeds without reaching anything
    assert snapstart.rehearse(client, snapstart.Rehearsal(False, "dynamodb", "GetItem", (("TableName", "t"),)))

    # And a real call afterwards is sent (and fails to connect), as is one from another thread during a rehearsal
    with pytest.raises(EndpointConnectionError):
        client.get_item(TableName="t", Key={})
    failures = []

    def call() -> None:
        try:
            client.get_item(TableName="t", Key={})
        except EndpointConnectionError as error:
            failures.append(error)

    snapstart._rehearsal.active = True
    try:
        thread = threading.Thread(target=call)
        thread.start()
        thread.join(timeout=30)
    finally:
        snapstart._rehearsal.active = False
    assert len(failures) == 1
