"""Provider secrets (kyc_gateway.secrets), through Cladfy's route: each instance reads a secret from Secrets Manager
once per SECRETS_MAX_AGE_SECONDS, reads it again at once when the provider refuses it, and a secret it cannot use is
the gateway's 500 configuration_error, which never names the secret."""

from __future__ import annotations

import base64
import json
import os

import pytest

from tests.conftest import SECRETS
from tests.integration.routes.test_cladfy_krapin import FUNCTION, KRAPIN, PIN, SUCCESS
from tests.support.aws_faults import LOST, inject, refused
from tests.support.emf import log_lines

REFUSED = {"status": 401, "message": "Unauthorized", "code": 1204, "response": None}  # Cladfy's wrong credentials
ORIGINAL, ROTATED = SECRETS["cladfy"]["clientId"], "rotated"


class SecretReads:
    """The GetSecretValue requests the instance sends to Secrets Manager for provider secrets (by secret id); the
    audit key's reads, for each request's audit record, are not what these tests follow."""

    def __init__(self, audit_key_id: str) -> None:
        self.ids: list[str] = []
        self.audit_key_id = audit_key_id

    def watch(self) -> None:
        """Record the requests of the instance's Secrets Manager client (a new instance has a new client)."""
        from kyc_gateway import aws

        events = aws.client("secretsmanager").meta.events
        events.register("before-parameter-build.secrets-manager.GetSecretValue", self._record)

    def _record(self, params: dict, **_: object) -> None:
        if params["SecretId"] != self.audit_key_id:
            self.ids.append(params["SecretId"])


@pytest.fixture
def cladfy(gateway):
    gateway.provider.reply(KRAPIN, SUCCESS)
    return gateway


@pytest.fixture
def reads(cladfy) -> SecretReads:
    watched = SecretReads(cladfy.physical_ids["AuditKeySecret"])
    watched.watch()
    return watched


@pytest.fixture
def secret_id(cladfy) -> str:
    return cladfy.physical_ids["CladfySecret"]


def rotate(secrets_manager, secret_id: str) -> None:
    secrets_manager.put_secret_value(
        SecretId=secret_id, SecretString=json.dumps({"clientId": ROTATED, "secretKey": "rotated-key"})
    )


def sent_client_ids(gateway) -> list[str]:
    """The client id of each Basic authorization Cladfy received, in order."""
    authorizations = [request.headers["Authorization"] for request in gateway.provider.requests(KRAPIN)]
    return [base64.b64decode(value.removeprefix("Basic ")).decode().split(":")[0] for value in authorizations]


def call(gateway):
    return gateway.call(FUNCTION, {"pinnumber": PIN})


# --- caching ---------------------------------------------------------------------------------------------------------


def test_a_secret_is_read_once_per_max_age_then_again_with_its_rotation(
    cladfy, reads, secret_id, secrets_manager, clock
):
    # Given the deployed max age, and an instance that read Cladfy's secret, which was then rotated
    max_age = float(os.environ["SECRETS_MAX_AGE_SECONDS"])
    clock.stop()
    assert call(cladfy).status == 200
    rotate(secrets_manager, secret_id)

    # When requests come until the secret it holds is exactly max_age old, and for max_age after its next read
    for step in (max_age - 0.5, 0.5, max_age - 0.5):
        clock.advance(step)
        call(cladfy)

    # Then it read the secret twice, and sent the rotated credentials from its second read on
    assert reads.ids == [secret_id, secret_id]
    assert sent_client_ids(cladfy) == [ORIGINAL, ORIGINAL, ROTATED, ROTATED]


def test_a_new_instance_reads_the_secret_again(cladfy, secret_id, secrets_manager):
    call(cladfy)
    rotate(secrets_manager, secret_id)

    cladfy.new_instance()
    call(cladfy)

    assert sent_client_ids(cladfy) == [ORIGINAL, ROTATED]


def test_a_secret_stored_as_binary_is_used(cladfy, secret_id, secrets_manager):
    secrets_manager.put_secret_value(SecretId=secret_id, SecretBinary=b'{"clientId": "binary", "secretKey": "k"}')

    assert call(cladfy).status == 200
    assert sent_client_ids(cladfy) == ["binary"]


# --- Secrets Manager failing ----------------------------------------------------------------------------------------

# What the SecretReadFailures alarm and its runbook promise (docs/operations.md), written out here rather than read
# from kyc_gateway.secrets: a read tried again every 10 s, and the value held serving at most 15 minutes past its age.
RETRY_AFTER_FAILED_READ_SECONDS = 10
MAX_STALE_SECONDS = 15 * 60


@pytest.mark.parametrize(
    ("error", "status"),
    [("ThrottlingException", 400), ("InternalServiceError", 500), ("AccessDeniedException", 400)],
)
def test_a_reread_that_fails_serves_the_secret_held_and_tries_again_later(
    cladfy, reads, secret_id, secrets_manager, aws, clock, logs, error, status
):
    # Given an instance holding Cladfy's secret and the audit key, then Secrets Manager failing once they are due
    max_age = float(os.environ["SECRETS_MAX_AGE_SECONDS"])
    clock.stop()
    assert call(cladfy).status == 200
    audit_records = len(aws.client("dynamodb").scan(TableName=cladfy.physical_ids["AuditTable"])["Items"])
    clock.advance(max_age + 1)
    failing = [True]
    made = inject("secretsmanager", "GetSecretValue", lambda params: refused(error, status) if failing else None)

    # When requests come while it fails, the second before the next try is due
    answers = [call(cladfy)]
    tried = len(made)
    clock.advance(RETRY_AFTER_FAILED_READ_SECONDS - 1)
    answers.append(call(cladfy))

    # Then each is served with the secrets held (Cladfy called, each audit record in the table, with its subject),
    # tried once each and not again until the retry is due; a warning says so, naming no secret
    assert [answer.status for answer in answers] == [200, 200]
    assert sent_client_ids(cladfy) == [ORIGINAL] * 3
    items = aws.client("dynamodb").scan(TableName=cladfy.physical_ids["AuditTable"])["Items"]
    assert len(items) == audit_records + 2
    assert len(made) == tried  # both secrets tried (with botocore's retries) by the first request only
    lines = log_lines(logs(), "secret re-read failed; the cached value serves meanwhile")
    assert [line["error"] for line in lines] == [error, error]  # Cladfy's secret, the audit key
    assert secret_id not in logs()
    # and the retry, once due, is made (served with the secrets held again while it fails)
    clock.advance(1)
    assert call(cladfy).status == 200
    assert len(made) == 2 * tried
    # and once Secrets Manager answers again, the same instance's next try reads the secret, rotated meanwhile
    failing.clear()
    rotate(secrets_manager, secret_id)
    clock.advance(RETRY_AFTER_FAILED_READ_SECONDS)
    assert call(cladfy).status == 200
    assert sent_client_ids(cladfy)[-1] == ROTATED
    assert made[-1] is None


def test_a_reread_whose_answers_are_all_lost_serves_the_secret_held_too(cladfy, clock, logs):
    # Given an instance holding Cladfy's secret, then Secrets Manager's answers lost (every botocore attempt)
    max_age = float(os.environ["SECRETS_MAX_AGE_SECONDS"])
    clock.stop()
    assert call(cladfy).status == 200
    clock.advance(max_age + 1)
    inject("secretsmanager", "GetSecretValue", lambda params: LOST)

    # When a request comes, Then it is served with the secret held, and the warning names the timeout
    assert call(cladfy).status == 200
    lines = log_lines(logs(), "secret re-read failed; the cached value serves meanwhile")
    assert {line["error"] for line in lines} == {"ReadTimeoutError"}


def test_a_secret_held_serves_no_longer_than_the_cap_past_its_max_age_while_reads_fail(cladfy, secret_id, clock):
    # Given an instance holding Cladfy's secret, and Secrets Manager failing every read from the max age on
    max_age = float(os.environ["SECRETS_MAX_AGE_SECONDS"])
    clock.stop()
    assert call(cladfy).status == 200
    inject("secretsmanager", "GetSecretValue", lambda params: refused("ThrottlingException"))

    # When requests come just before, and just after, the cap past its max age
    clock.advance(max_age + MAX_STALE_SECONDS - 1)
    before = call(cladfy)
    clock.advance(2)
    after = call(cladfy)

    # Then the secret held serves until the cap (a rotated one, a leaked webhook token, is refused by then), and no
    # longer: the instance is as one that never read it
    assert before.status == 200
    assert_configuration_error(after, "provider credentials are unavailable", secret_id)
    assert len(cladfy.provider.requests(KRAPIN)) == 2


def test_a_secret_never_read_is_500_when_secrets_manager_fails(cladfy, secret_id):
    # Given a new instance, and Secrets Manager throttling every read
    inject("secretsmanager", "GetSecretValue", lambda params: refused("ThrottlingException"))

    # When a request comes, Cladfy is not called: there are no credentials to call it with
    answer = call(cladfy)

    assert_configuration_error(answer, "provider credentials are unavailable", secret_id)
    assert cladfy.provider.requests(KRAPIN) == []


def test_a_refused_secret_whose_reread_fails_is_500_not_the_refused_secret_again(cladfy, reads, secret_id):
    # Given an instance holding a secret Cladfy now refuses, and Secrets Manager failing the read it forces
    call(cladfy)
    cladfy.provider.reply(KRAPIN, REFUSED)
    inject("secretsmanager", "GetSecretValue", lambda params: refused("ThrottlingException"))

    # When the next request is refused
    answer = call(cladfy)

    # Then the refused secret is not tried again: the request is the gateway's configuration error
    assert_configuration_error(answer, "provider credentials are unavailable", secret_id)
    assert len(cladfy.provider.requests(KRAPIN)) == 2


# --- a provider refusing it ------------------------------------------------------------------------------------------


def test_a_refused_secret_is_read_again_at_once_and_the_call_repeated_with_it(
    cladfy, reads, secret_id, secrets_manager
):
    # Given an instance holding a secret that has since been rotated, and Cladfy accepting only the rotated one
    call(cladfy)
    rotate(secrets_manager, secret_id)
    cladfy.provider.reply(KRAPIN, REFUSED, SUCCESS)

    # When the next request, well within the max age, is refused
    answer = call(cladfy)

    # Then the secret is read again at once and the call repeated with it; later requests use it without a read
    assert answer.status == 200
    call(cladfy)
    assert reads.ids == [secret_id, secret_id]
    assert sent_client_ids(cladfy) == [ORIGINAL, ORIGINAL, ROTATED, ROTATED]


def test_a_secret_refused_twice_is_502_provider_auth_failed_after_a_single_read_again(cladfy, reads, secret_id):
    cladfy.provider.reply(KRAPIN, REFUSED)

    answer = call(cladfy)

    assert (answer.status, answer.error["code"], answer.error["provider"]) == (502, "provider_auth_failed", "cladfy")
    assert reads.ids == [secret_id, secret_id]
    assert len(cladfy.provider.requests(KRAPIN)) == 2


# --- a secret it cannot use ------------------------------------------------------------------------------------------


def assert_configuration_error(answer, message: str, secret_id: str) -> None:
    assert (answer.status, answer.error["code"], answer.error["message"]) == (500, "configuration_error", message)
    name = secret_id.rsplit(":", 1)[-1].rsplit("-", 1)[0]  # an ARN ends in the name and a random suffix
    assert "secret" not in answer.text.lower() and name not in answer.text


def test_a_secret_that_cannot_be_read_is_500_and_read_again_by_the_next_request(cladfy, reads, secret_id, aws):
    # Given Cladfy's secret scheduled for deletion (Secrets Manager refuses to read it)
    secrets_manager = aws.client("secretsmanager")
    secrets_manager.delete_secret(SecretId=secret_id, RecoveryWindowInDays=7)
    try:
        answer = call(cladfy)
    finally:
        secrets_manager.restore_secret(SecretId=secret_id)

    # Then the request is the gateway's configuration error, naming no secret, and Cladfy is not called
    assert_configuration_error(answer, "provider credentials are unavailable", secret_id)
    assert cladfy.provider.requests(KRAPIN) == []
    # and the failure is not kept: once the secret is back, the next request reads it and succeeds
    assert call(cladfy).status == 200
    assert reads.ids == [secret_id, secret_id]


def test_credentials_to_read_the_secret_missing_is_500_configuration_error(cladfy, secret_id):
    from botocore.exceptions import NoCredentialsError

    from kyc_gateway import aws

    def no_credentials(**_: object) -> None:
        raise NoCredentialsError

    aws.client("secretsmanager").meta.events.register("before-sign.secrets-manager.GetSecretValue", no_credentials)

    answer = call(cladfy)

    assert_configuration_error(answer, "provider credentials are unavailable", secret_id)
    assert cladfy.provider.requests(KRAPIN) == []


@pytest.mark.parametrize("stored", ['{"clientId": 1}', "not json", '{"clientId": "only"}'])
def test_a_secret_of_the_wrong_shape_is_500_configuration_error_naming_no_secret(
    cladfy, secret_id, secrets_manager, stored
):
    secrets_manager.put_secret_value(SecretId=secret_id, SecretString=stored)

    answer = call(cladfy)

    assert_configuration_error(answer, "provider credentials are malformed", secret_id)
    assert cladfy.provider.requests(KRAPIN) == []
