"""A connectFi token renewal holds its lease for as long as it may take: its login refused, the secret read again,
and the login made once more, each within the provider budget."""

from __future__ import annotations

import contextlib
import json
import threading

from tests.integration.routes.test_connectfi import LOGIN, login_reply
from tests.support.fake_provider import Reply
from tests.support.token_cache import in_request


def test_a_renewal_whose_login_is_refused_then_made_again_keeps_its_lease_until_it_ends(gateway, clock):
    from kyc_gateway.clock import start_request
    from kyc_gateway.errors import ProviderUnavailable
    from kyc_gateway.providers.connectfi.client import ConnectFiClient
    from kyc_gateway.settings import get_settings

    # Given a renewal outside any request's deadline (the reconciliation's long runs), whose login connectFi refuses
    # after nearly the whole provider budget, and answers as long again once the secret is read again
    budget = get_settings().provider_budget_seconds
    clock.stop()
    start_request(None)
    renewing, other_instance = ConnectFiClient(), ConnectFiClient()
    refused = Reply(401, b'{"code": "unauthorized", "message": "Authentication error"}', delay=budget - 1)
    gateway.provider.reply(LOGIN, refused, Reply(200, json.dumps(login_reply()).encode(), delay=budget - 1))
    seen: list[str] = []

    def taking_time(seconds: float) -> None:
        clock.advance(seconds)
        if len(gateway.provider.requests(LOGIN)) == 2 and not seen:  # the second login, near its end
            with in_request(seconds_left=-1):  # another instance needing a token looks once
                try:
                    seen.append(other_instance.tokens.get(other_instance._new_token).value)
                except ProviderUnavailable as error:
                    seen.append(error.code)

    gateway.provider.wait = taking_time

    # When the renewal runs
    token = renewing.tokens.get(renewing._new_token)

    # Then the other instance found the lease still held (no login of its own), and the renewal got its token
    assert seen == ["token_unavailable"]
    assert token.value == "cfi-token-1"
    assert len(gateway.provider.requests(LOGIN)) == 2


def test_a_renewal_that_outlives_any_renewal_is_taken_over_once_its_lease_lapses(gateway, clock):
    from kyc_gateway.clock import start_request
    from kyc_gateway.errors import GatewayError
    from kyc_gateway.providers.connectfi.client import ConnectFiClient
    from kyc_gateway.settings import get_settings
    from kyc_gateway.token_cache import _LEASE_MARGIN_SECONDS

    # Given a renewal outside any request's deadline whose login hangs past what any renewal may take: a login
    # refused and made again, each within the provider budget, and the lease's margin
    lease = 2 * get_settings().provider_budget_seconds + _LEASE_MARGIN_SECONDS
    clock.stop()
    start_request(None)
    renewing, other_instance = ConnectFiClient(), ConnectFiClient()
    gateway.provider.reply(
        LOGIN, Reply(200, json.dumps(login_reply()).encode(), delay=lease + 5), login_reply("cfi-token-2")
    )
    seen: list[str] = []

    def other_looks(seconds_left: float) -> None:
        with in_request(seconds_left):  # another instance's request needing a token
            try:
                seen.append(other_instance.tokens.get(other_instance._new_token).value)
            except GatewayError as error:
                seen.append(error.code)

    def hanging(seconds: float) -> None:
        if seen:
            return
        clock.advance(lease - 1)
        other_looks(seconds_left=-1)  # the lease's last second (a request with no time left looks once)
        clock.advance(2)
        other_looks(seconds_left=10)  # just after it, a request with time for a login
        looked.set()

    looked = threading.Event()
    gateway.provider.wait = hanging

    # When the renewal runs (the clock moved past its deadline, it may be cut off before the other instance is done)
    with contextlib.suppress(GatewayError):  # what the hung renewal itself gets does not matter here
        renewing.tokens.get(renewing._new_token)

    # Then the other instance waited while the lease held, then renewed the token itself
    assert looked.wait(30)
    assert seen == ["token_unavailable", "cfi-token-2"]


def test_a_renewal_outside_any_request_leases_the_token_for_two_logins_budgets_and_the_margin(gateway, aws, clock):
    from kyc_gateway.clock import start_request
    from kyc_gateway.providers.connectfi.client import ConnectFiClient
    from kyc_gateway.settings import get_settings
    from kyc_gateway.token_cache import _LEASE_MARGIN_SECONDS

    # Given a renewal outside any request's deadline (the reconciliation's long runs), whose login takes a moment
    budget = get_settings().provider_budget_seconds
    now = clock.stop()
    start_request(None)
    renewing = ConnectFiClient()
    gateway.provider.reply(LOGIN, Reply(200, json.dumps(login_reply()).encode(), delay=0.01))
    leased_until: list[float] = []

    def lease_seen(seconds: float) -> None:
        items = aws.client("dynamodb").scan(TableName=gateway.physical_ids["TokenTable"])["Items"]
        leased_until.extend(
            float(item["leaseUntil"]["N"]) for item in items if item["pk"]["S"].startswith("connectfi#")
        )

    gateway.provider.wait = lease_seen

    # When the renewal runs
    token = renewing.tokens.get(renewing._new_token)

    # Then while its login was in flight the token's row was leased for a login refused and one made again, each
    # within the provider budget, plus the margin: no other instance renews meanwhile, none waits longer
    assert token.value == "cfi-token-1"
    assert leased_until == [now + 2 * budget + _LEASE_MARGIN_SECONDS]
