"""CDP partner onboarding's shared Keycloak token, as the lookup and the onboarding use it (the lookup itself is in
test_cdp_lookup.py, the onboarding in test_cdp_onboarding.py)."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs

import pytest

from tests.conftest import SECRETS
from tests.support.fake_provider import Reply
from tests.support.request_log import provider_calls
from tests.support.samples import CDP_ONBOARDING_BODY
from tests.support.waiting import wait_for

LOOKUP_FN = "CdpCustomerLookupFunction"
ONBOARD_FN = "CdpOnboardingFunction"
TOKEN = "/cdp/auth/realms/cdp/protocol/openid-connect/token"
LOOKUP = "/cdp/caas/api/v2/customer/validate"
ONBOARD = "/cdp/caas-lcm/api/v1/CAAS/onBoarding/customer"
ONBOARDING_BODY = CDP_ONBOARDING_BODY
LOOKUP_BODY = {"idNumber": "784199554586091", "idType": "4"}

LOOKUP_SUCCESS = {
    "status": "success",
    "statusCode": 200,
    "data": {
        "ecrn": "7841003233051516",
        "first_name": "ZAFARBASHIR",
        "middle_name": "",
        "last_name": "BASHIRMASIH",
        "agent_location_id": "784101",
        "primary_mobile_number": "+971554747002",
        "email_id": "BASHIRMASIH@GMAIL.COM",
        "customer_status": "ACTIVE",
        "aml_scan_status": "Accepted",
        "id_status": "Active",
        "id_date_of_expiry": "2030-12-10T00:00:00.000+00:00",
    },
}
ONBOARD_SUCCESS = {
    "status": "success",
    "data": {
        "aml_scan_status": "Accepted",
        "ecrn": "7841003247752409",
        "customer_status": "ACTIVE",
        "pep": False,
        "aml_category": 2,
    },
    "status_code": 200,
    "request_id": "4138e3038999d41b7534ce12a18a6031",
}
UNAUTHORIZED = Reply(
    401,
    json.dumps(
        {
            "timestamp": "2023-12-22T06:04:30.477+00:00",
            "status": 401,
            "error": "Unauthorized",
            "path": "/api/v2/customer/validate",
        }
    ).encode(),
)


def token_reply(number: int, expires_in: int = 7199, refresh_expires_in: int = 7199) -> dict:
    return {
        "token_type": "bearer",
        "access_token": f"access-{number}",
        "expires_in": expires_in,
        "refresh_expires_in": refresh_expires_in,
        "refresh_token": f"refresh-{number}",
        "scope": "customer",
        "not-before-policy": 0,
        "session_state": "s",
    }


def token_forms(gateway) -> list[dict[str, list[str]]]:
    return [parse_qs(request.body.decode()) for request in gateway.provider.requests(TOKEN)]


# --- token -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_token_request_redirected_is_never_sent_on_with_its_credentials(gateway, status):
    # Given CDP's token endpoint answering with a redirect to another address
    elsewhere = "/cdp/elsewhere"
    gateway.provider.reply(TOKEN, Reply(status, b"", None, headers=(("Location", elsewhere),)))
    gateway.provider.reply(elsewhere, token_reply(1))

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # Then the form (client secret, password) went only to the token endpoint, and the lookup was not made
    assert (answer.status, answer.error["code"], answer.error["providerStatus"]) == (
        502,
        "provider_bad_response",
        status,
    )
    assert gateway.provider.requests(elsewhere) == []
    assert gateway.provider.requests(LOOKUP) == []


def test_password_grant_is_form_encoded_with_exactly_one_grant_type(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    (request,) = gateway.provider.requests(TOKEN)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    secret = SECRETS["cdp"]
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["password"],
        "scope": [secret["scope"]],
        "username": [secret["username"]],
        "password": [secret["password"]],
        "client_id": [secret["clientId"]],
        "client_secret": [secret["clientSecret"]],
    }
    assert gateway.provider.requests(LOOKUP)[0].headers["Authorization"] == "Bearer access-1"
    assert [r.header("Accept") for r in gateway.provider.requests()] == ["application/json"] * 2  # Keycloak's too


def test_one_token_serves_many_lookups_across_instances(gateway):
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    for _ in range(3):
        assert gateway.call(LOOKUP_FN, LOOKUP_BODY).status == 200
    gateway.new_instance()
    assert gateway.call(ONBOARD_FN, ONBOARDING_BODY).status == 200  # another function, the same shared token

    assert len(gateway.provider.requests(TOKEN)) == 1


def test_a_token_near_expiry_is_refreshed_and_each_new_refresh_token_replaces_the_old(gateway, clock):
    # 2 s access tokens are renewed 0.4 s early; refresh tokens live 60 s
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), token_reply(2, 2, 60), token_reply(3, 2, 60))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.new_instance()  # the rotated refresh token is shared through DynamoDB
    clock.advance(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    forms = token_forms(gateway)
    assert [form["grant_type"] for form in forms] == [["password"], ["refresh_token"], ["refresh_token"]]
    assert forms[1]["refresh_token"] == ["refresh-1"] and forms[2]["refresh_token"] == ["refresh-2"]
    assert "password" not in forms[1]
    assert gateway.provider.requests(LOOKUP)[-1].headers["Authorization"] == "Bearer access-3"


def test_an_expired_refresh_token_means_a_password_grant(gateway, clock):
    gateway.provider.reply(TOKEN, token_reply(1, 2, 2), token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(1.7)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["password"]]


def test_a_refused_refresh_token_falls_back_to_a_password_grant(gateway, clock):
    invalid_grant = Reply(400, b'{"error": "invalid_grant", "error_description": "Token is not active"}')
    gateway.provider.reply(TOKEN, token_reply(1, 2, 60), invalid_grant, token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    clock.advance(1.7)
    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert answer.status == 200
    assert [form["grant_type"] for form in token_forms(gateway)] == [["password"], ["refresh_token"], ["password"]]
    assert gateway.provider.requests(LOOKUP)[-1].headers["Authorization"] == "Bearer access-2"


def test_a_renewal_slower_than_a_token_request_keeps_its_lease_so_the_refresh_token_is_sent_once(
    gateway, clock, monkeypatch
):
    from kyc_gateway import clock as gateway_clock
    from kyc_gateway.providers.cdp import CdpClient, CustomerLookupRequest

    gateway_clock.start_request(None)  # this thread serves no request: no deadline left over from another test
    # Given a token due for renewal, and a CDP that takes long to refuse the refresh token, then long to answer the
    # password grant: each answer is held until the test lets it go, and a sleep of the gateway's is another
    # instance waiting
    refresh_answered, password_answered, polled = threading.Event(), threading.Event(), threading.Event()
    held = [refresh_answered, password_answered]
    sleep = gateway_clock.sleep
    monkeypatch.setattr(gateway.provider, "wait", lambda _delay: held.pop(0).wait(10))
    monkeypatch.setattr(gateway_clock, "sleep", lambda seconds: (polled.set(), sleep(seconds)))
    invalid_grant = Reply(400, b'{"error": "invalid_grant", "error_description": "Token is not active"}', delay=1)
    password_grant = Reply(200, json.dumps(token_reply(2)).encode(), delay=1)
    gateway.provider.reply(TOKEN, token_reply(1, 2, 600), invalid_grant, password_grant)
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    request = CustomerLookupRequest.model_validate(LOOKUP_BODY)
    CdpClient().customer_lookup(request)
    clock.advance(1.7)
    first, second = CdpClient(), CdpClient()  # two instances

    # When one instance renews, its refresh refused after 19 s and its password grant answered 6 s later (25 s in
    # all: more than one token request's 20 s budget, within the two a CDP renewal may make), and the other needs a
    # token meanwhile
    renewing = threading.Thread(target=first.customer_lookup, args=(request,), daemon=True)
    renewing.start()
    waiting = threading.Thread(target=second.customer_lookup, args=(request,), daemon=True)  # no request of its own
    try:
        wait_for(lambda: len(gateway.provider.requests(TOKEN)) >= 2, 10, every=0.01, what="the refresh at CDP")
        clock.advance(19)
        refresh_answered.set()
        wait_for(lambda: len(gateway.provider.requests(TOKEN)) >= 3, 10, every=0.01, what="the password grant")
        clock.advance(6)
        waiting.start()
        assert polled.wait(10), "the second instance never waited for the renewal"
    finally:
        refresh_answered.set()  # a failed test must not leave an answer to land in the next one
        password_answered.set()
    for thread in (renewing, waiting):
        thread.join(timeout=30)
        assert not thread.is_alive()

    # Then the second waited for the first's renewal: the refresh token went to CDP once, and one renewal served both
    forms = token_forms(gateway)
    assert [form["grant_type"] for form in forms] == [["password"], ["refresh_token"], ["password"]]
    assert [request.headers["Authorization"] for request in gateway.provider.requests(LOOKUP)[-2:]] == [
        "Bearer access-2"
    ] * 2


def test_a_token_the_provider_forgot_is_replaced_transparently(gateway):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.provider.reply(LOOKUP, UNAUTHORIZED, LOOKUP_SUCCESS)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert answer.status == 200
    assert [r.headers["Authorization"] for r in gateway.provider.requests(LOOKUP)[1:]] == [
        "Bearer access-1",
        "Bearer access-2",
    ]


def test_a_provider_that_keeps_refusing_our_token_is_502_after_one_re_token_and_one_retry(gateway):
    gateway.provider.reply(TOKEN, token_reply(1), token_reply(2))
    gateway.provider.reply(LOOKUP, UNAUTHORIZED)

    answer = gateway.call(LOOKUP_FN, LOOKUP_BODY)

    assert (answer.status, answer.error["code"]) == (502, "provider_auth_failed")
    assert (answer.error["provider"], answer.error["providerStatus"]) == ("cdp", 401)
    assert len(gateway.provider.requests(LOOKUP)) == 2
    assert len(gateway.provider.requests(TOKEN)) == 2


def test_a_token_is_kept_under_its_provider_and_the_base_url_it_was_issued_for(gateway):
    import os

    import boto3

    from kyc_gateway.token_cache import cache_key

    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)

    # another host (a partner's other CDP environment) never gets this token
    items = boto3.client("dynamodb").scan(TableName=gateway.physical_ids["TokenTable"])["Items"]
    assert [item["pk"]["S"] for item in items] == [cache_key("cdp", os.environ["CDP_BASE_URL"])]


def test_each_call_to_cdp_is_logged_under_its_operation(gateway, logs):
    # Operators query the `request completed` line and the ProviderLatency metric by these operation names
    gateway.provider.reply(TOKEN, token_reply(1))
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    gateway.provider.reply(ONBOARD, ONBOARD_SUCCESS)

    gateway.call(LOOKUP_FN, LOOKUP_BODY)
    gateway.call(ONBOARD_FN, ONBOARDING_BODY)

    assert provider_calls(logs()) == [[("cdp", "token", 200), ("cdp", "lookup", 200)], [("cdp", "onboarding", 200)]]


def stored_renewal_time(gateway) -> float:
    """When the token stored in the shared table is due for renewal (epoch seconds)."""
    import boto3

    items = boto3.client("dynamodb").scan(TableName=gateway.physical_ids["TokenTable"])["Items"]
    (item,) = [item for item in items if item["pk"]["S"].startswith("cdp#")]
    return float(item["renewAt"]["N"])


def test_twenty_concurrent_cold_callers_make_one_token_request_per_expiry_window(gateway, clock):
    from kyc_gateway.providers.cdp import CdpClient, CustomerLookupRequest

    # Given a slow token endpoint issuing 600 s tokens (renewed 120 s early: no round outlives one, however slow the
    # machine), and 20 cold instances (own memory, one shared table)
    slow = [Reply(200, json.dumps(token_reply(n, 600, 600)).encode(), delay=0.3) for n in (1, 2)]
    gateway.provider.reply(TOKEN, *slow)
    gateway.provider.reply(LOOKUP, LOOKUP_SUCCESS)
    clients = [CdpClient() for _ in range(20)]
    request = CustomerLookupRequest(**LOOKUP_BODY)

    def all_at_once() -> list[int]:
        barrier, statuses = threading.Barrier(len(clients)), []

        def lookup(client):
            barrier.wait()
            statuses.append(client.customer_lookup(request).status)

        threads = [threading.Thread(target=lookup, args=(client,), daemon=True) for client in clients]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
            assert not thread.is_alive(), "a caller is still waiting for a token"
        return statuses

    # When they all look customers up at once, in two token lifetimes
    first = all_at_once()
    clock.advance(stored_renewal_time(gateway) - clock.now() + 0.2)  # past the first token's renewal point
    second = all_at_once()

    # Then every call succeeded with one token request per expiry window
    assert first == second == [200] * 20
    assert len(gateway.provider.requests(TOKEN)) == 2
    authorizations = {r.headers["Authorization"] for r in gateway.provider.requests(LOOKUP)}
    assert authorizations == {"Bearer access-1", "Bearer access-2"}
