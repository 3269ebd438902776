"""Cladfy's credentials: read from Secrets Manager, reused within their age, fetched again when Cladfy refuses them
(then a 502, never the caller's 401), and a secret that cannot be used is the gateway's configuration error."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import SECRETS
from tests.integration.routes.test_cladfy_krapin import FUNCTION, KRAPIN, PIN, SUCCESS
from tests.support.fake_provider import Reply


@pytest.mark.parametrize(
    "refusal",
    [
        Reply(200, json.dumps({"status": 401, "message": "Unauthorized", "code": 1204, "response": None}).encode()),
        # the documented error body, under HTTP 200 (Cladfy mostly does not use HTTP statuses): no code at all
        Reply(200, json.dumps({"status": 401, "message": "Unauthorized", "code": None, "response": None}).encode()),
        Reply(401, b"Unauthorized", "text/plain"),  # the page's own 401, whatever its body
    ],
    ids=["code 1204", "401 in the body alone", "401 in text"],
)
def test_rejected_credentials_are_refetched_once_then_succeed(gateway, secrets_manager, refusal):
    # Given the secret was rotated after this instance cached it, and Cladfy only accepts the new one
    gateway.provider.reply(KRAPIN, SUCCESS)
    gateway.call(FUNCTION, {"pinnumber": PIN})
    secrets_manager.put_secret_value(
        SecretId=gateway.physical_ids["CladfySecret"],
        SecretString=json.dumps({"clientId": "rotated", "secretKey": "rotated-key"}),
    )
    gateway.provider.reply(KRAPIN, refusal, SUCCESS)

    # When the next call is refused with the cached credentials
    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    # Then the gateway re-reads the secret once and the retry with the new credentials succeeds
    assert answer.status == 200
    last = gateway.provider.requests(KRAPIN)[-1]
    assert last.headers["Authorization"] == "Basic " + base64.b64encode(b"rotated:rotated-key").decode()


def _rotate_cladfy_secret(gateway, secrets_manager) -> None:
    secrets_manager.put_secret_value(
        SecretId=gateway.physical_ids["CladfySecret"],
        SecretString=json.dumps({"clientId": "rotated", "secretKey": "rotated-key"}),
    )


def _sent_client_id(gateway) -> str:
    authorization = gateway.provider.requests(KRAPIN)[-1].headers["Authorization"]
    return base64.b64decode(authorization.removeprefix("Basic ")).decode().split(":")[0]


def test_a_fetched_secret_is_reused_within_its_max_age(gateway, secrets_manager):
    # Given an instance that fetched Cladfy's secret, which was then rotated
    gateway.provider.reply(KRAPIN, SUCCESS, SUCCESS)
    gateway.call(FUNCTION, {"pinnumber": PIN})
    _rotate_cladfy_secret(gateway, secrets_manager)

    # When the next request comes within SECRETS_MAX_AGE_SECONDS (300 s)
    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    # Then it uses the secret it holds: no second read
    assert answer.status == 200
    assert _sent_client_id(gateway) == SECRETS["cladfy"]["clientId"]


def test_a_secret_older_than_its_max_age_is_fetched_again(gateway, secrets_manager, monkeypatch):
    # Given an instance that keeps secrets for no time at all, and a secret rotated after its first request
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")
    gateway.new_instance()
    gateway.provider.reply(KRAPIN, SUCCESS, SUCCESS)
    gateway.call(FUNCTION, {"pinnumber": PIN})
    _rotate_cladfy_secret(gateway, secrets_manager)

    # When the next request comes
    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    # Then it reads the secret again and sends the rotated credentials
    assert answer.status == 200
    assert _sent_client_id(gateway) == "rotated"


@pytest.mark.parametrize(
    "refusal",
    [
        Reply(200, b'{"status": 401, "message": "Unauthorized", "code": 1204, "response": null}'),
        Reply(200, b'{"status": 401, "message": "Authentication failed", "code": 1200, "response": null}'),
        Reply(401, b'{"status": 401, "message": "Unauthorized", "code": null, "response": null}'),
        # the code decides, whatever status comes with it
        Reply(200, b'{"status": 403, "message": "Forbidden", "code": 1204, "response": null}'),
        Reply(400, b'{"status": 400, "message": "Authentication failed", "code": 1200, "response": null}'),
    ],
)
def test_credentials_refused_twice_are_a_502_never_the_callers_401(gateway, refusal):
    gateway.provider.reply(KRAPIN, refusal)

    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert len(gateway.provider.requests(KRAPIN)) == 2


def test_a_secret_that_cannot_be_read_is_a_500_configuration_error_and_no_provider_call(gateway, monkeypatch):
    # Given the function's secret id names no secret
    monkeypatch.setenv("CLADFY_SECRET_ID", "kyc-gateway/local/no-such-secret")
    gateway.new_instance()

    # When a valid request comes
    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    # Then it is the gateway's configuration error, and Cladfy is not called
    assert (answer.status, answer.error["code"]) == (500, "configuration_error")
    assert gateway.provider.requests(KRAPIN) == []


def test_a_secret_of_the_wrong_shape_is_a_500_configuration_error(gateway, secrets_manager):
    secrets_manager.put_secret_value(SecretId=gateway.physical_ids["CladfySecret"], SecretString='{"clientId": 1}')

    answer = gateway.call(FUNCTION, {"pinnumber": PIN})

    assert (answer.status, answer.error["code"]) == (500, "configuration_error")
    assert gateway.provider.requests(KRAPIN) == []
