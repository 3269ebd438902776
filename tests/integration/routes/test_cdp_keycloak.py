"""CDP's Keycloak token endpoint failing or refusing: what is retried, what is our credentials refused (the secret
is read again once, then 502 `provider_auth_failed`), and which answers are not a token at all."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SECRETS
from tests.integration.routes.test_cdp import (
    LOOKUP,
    LOOKUP_BODY,
    LOOKUP_FN,
    LOOKUP_SUCCESS,
    TOKEN,
    token_forms,
    token_reply,
)
from tests.support.fake_provider import Reply


def keycloak_error(status: int, error: str) -> Reply:
    return Reply(status, json.dumps({"error": error, "error_description": f"{error} (Keycloak)"}).encode())


# Keycloak refusing the gateway's client (a wrong client secret), its user (a wrong password), its scope, or the
# client not being allowed the grant: all our own credentials, never the caller's.
REFUSALS = [
    pytest.param(400, "invalid_client", id="400 invalid_client"),
    pytest.param(400, "invalid_grant", id="400 invalid_grant"),
    pytest.param(400, "invalid_scope", id="400 invalid_scope"),
    pytest.param(401, "unauthorized_client", id="401 unauthorized_client"),
    pytest.param(403, "access_denied", id="403 access_denied"),
]


@pytest.mark.parametrize("fault", ["status", "reset"])
def test_a_token_request_meeting_a_server_error_or_a_reset_is_retried(sandboxed_gateway, fault):
    # Given Keycloak failing the first token request (a 503, or the connection reset after it was sent)
    sandbox = sandboxed_gateway.provider
    sandbox.inject_fault("cdp", "token", fault)

    # When a cold instance looks a customer up
    answer = sandboxed_gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the token request, which creates nothing a caller could see twice, was sent again, and the lookup made
    assert answer.status == 200, answer.text
    assert (sandbox.call_count("cdp", "token"), sandbox.call_count("cdp", "lookup")) == (2, 1)


@pytest.mark.parametrize(("status", "error"), REFUSALS)
def test_keycloak_refusing_our_credentials_twice_is_502_after_one_re_read_and_no_lookup(gateway, status, error):
    gateway.provider.reply(TOKEN, keycloak_error(status, error))

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert (answer.error["providerStatus"], answer.error["providerCode"]) == (status, error)
    assert len(gateway.provider.requests(TOKEN)) == 2  # with the secret as cached, then as read again
    assert gateway.provider.requests(LOOKUP) == []


@pytest.mark.parametrize(("status", "error"), REFUSALS)
def test_a_secret_rotated_since_it_was_read_is_read_again_when_keycloak_refuses_it(
    gateway, secrets_manager, clock, status, error
):
    # Given an instance that read CDP's secret for a token that has since expired, refresh token included
    gateway.provider.reply(TOKEN, token_reply(1, 2, 2), keycloak_error(status, error), token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    assert gateway.call(LOOKUP_FN, LOOKUP_BODY).status == 200
    clock.advance(3)
    # And a secret rotated since, which Keycloak refuses in its old version
    rotated = {**SECRETS["cdp"], "clientId": "rotated-client", "clientSecret": "rotated-secret"}
    secrets_manager.put_secret_value(SecretId=gateway.physical_ids["CdpSecret"], SecretString=json.dumps(rotated))

    # When the next lookup needs a token
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the refusal made the gateway read the secret again, and the new one got the token
    assert answer.status == 200, answer.text
    forms = token_forms(gateway)
    assert [form["client_id"] for form in forms] == [[SECRETS["cdp"]["clientId"]]] * 2 + [["rotated-client"]]
    assert forms[2]["client_secret"] == ["rotated-secret"]
    assert gateway.provider.requests(LOOKUP)[-1].headers["Authorization"] == "Bearer access-2"


def test_a_refresh_refused_for_another_reason_than_invalid_grant_is_never_followed_by_a_password_grant(gateway, clock):
    # Given a token expired with a live refresh token, and Keycloak refusing the gateway's client
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), keycloak_error(400, "invalid_client"))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(2.5)

    # When the next lookup renews it
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the refusal is our credentials refused (the refresh tried again with the secret read again), never a
    # password grant sent with a client Keycloak has just refused
    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (
        502,
        "provider_auth_failed",
        "invalid_client",
    )
    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["refresh_token"], ["refresh_token"]]


def test_a_refresh_token_refused_as_invalid_grant_is_never_sent_again(gateway, clock):
    # Given a token expired with a live refresh token, which Keycloak refuses as invalid_grant, and a password
    # grant refused too (the gateway then reads its secret again and logs in once more)
    refused = keycloak_error(401, "unauthorized_client")
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), keycloak_error(400, "invalid_grant"), refused, refused)
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(2.5)

    # When the next lookup needs a token
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the second login went straight to the password grant
    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    grants = [form["grant_type"] for form in token_forms(gateway)]
    assert grants == [["password"], ["refresh_token"], ["password"], ["password"]]


def test_a_renewal_refused_early_leaves_the_valid_token_serving_and_each_request_after_expiry_tries(
    gateway, stopped_clock
):
    # Given a token due for renewal (renewed a fifth of its 100 s early), and Keycloak refusing the gateway's
    # credentials for a while
    refused = keycloak_error(401, "invalid_client")
    gateway.provider.reply(TOKEN, token_reply(1, 100, 100), *[refused] * 4, token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    stopped_clock.advance(85)

    # When lookups need a token while it is still valid, after it expired, and once Keycloak accepts again
    early = gateway.call(LOOKUP_FN, LOOKUP_BODY)
    stopped_clock.advance(16)
    expired = gateway.call(LOOKUP_FN, LOOKUP_BODY)
    stopped_clock.advance(1)
    again = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the refused renewal (its refresh grant sent again with the secret read again) left the valid token
    # serving; the lookup after its expiry tried again and got 502; the next one logged in
    assert early.status == 200
    assert (expired.status, expired.error["code"]) == (502, "provider_auth_failed")
    assert again.status == 200
    grants = [form["grant_type"] for form in token_forms(gateway)]
    assert grants == [["password"]] + [["refresh_token"]] * 2 + [["password"]] * 3  # (the refresh token expired)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({**token_reply(1), "access_token": ""}, id="an empty access token"),
        pytest.param({**token_reply(1), "access_token": "access-1\r\nX-Injected: 1"}, id="a token with a line break"),
        pytest.param({**token_reply(1), "access_token": "acc\u00e8s"}, id="a token not ASCII"),
        pytest.param({key: value for key, value in token_reply(1).items() if key != "access_token"}, id="no token"),
        pytest.param({**token_reply(1), "expires_in": 0}, id="a lifetime of 0"),
        pytest.param({**token_reply(1), "expires_in": -60}, id="a negative lifetime"),
        pytest.param({**token_reply(1), "expires_in": "soon"}, id="a lifetime not a number"),
    ],
)
def test_a_token_answer_that_is_no_usable_token_is_a_bad_response_and_no_lookup(gateway, reply):
    gateway.provider.reply(TOKEN, reply)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"], answer.error["providerStatus"]) == (502, "provider_bad_response", 200)
    assert gateway.provider.requests(LOOKUP) == []


def test_a_token_living_less_than_a_second_is_used(gateway):
    gateway.provider.reply(TOKEN, token_reply(1, expires_in=0.5))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert answer.status == 200
    assert gateway.provider.requests(LOOKUP)[0].headers["Authorization"] == "Bearer access-1"


def test_an_undocumented_token_endpoint_failure_is_502_without_a_re_read(gateway):
    # Given Keycloak answering a status that is neither a token nor a refusal of our credentials
    gateway.provider.reply(TOKEN, keycloak_error(404, "not_found"))

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"], answer.error["providerCode"]) == (502, "provider_error", "not_found")
    assert len(gateway.provider.requests(TOKEN)) == 1


@pytest.mark.parametrize(
    "refresh_lifetime",
    [pytest.param({"refresh_expires_in": 0}, id="0, an offline token"), pytest.param({}, id="none given")],
)
def test_a_refresh_token_without_a_lifetime_is_used_to_renew(gateway, clock, refresh_lifetime):
    # Given Keycloak giving the refresh token no lifetime (Keycloak's 0: an offline token, which does not expire)
    issued = {key: value for key, value in token_reply(1, 2).items() if key != "refresh_expires_in"}
    gateway.provider.reply(TOKEN, issued | refresh_lifetime, token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(1.7)

    # When the access token is due for renewal
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then it is renewed with the refresh token, not the password
    assert answer.status == 200
    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["refresh_token"]]
