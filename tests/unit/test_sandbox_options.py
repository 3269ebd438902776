"""The sandbox's options come from its providers' modules: the CLI flags and `make run`'s SANDBOX_* variables
follow, with no list to keep in step by hand."""

from __future__ import annotations

import pytest

from kyc_gateway.registry import PROVIDERS
from local.sandbox import ProviderSandbox
from local.sandbox.__main__ import _parse_args
from local.stack import StackConfig
from tests.conftest import SECRETS


def test_every_provider_option_is_an_environment_variable_of_make_run():
    config = StackConfig.from_environment(
        {
            "SANDBOX_SIGNZY_AUTH_HEADER": "bearer",
            "SANDBOX_SIGNZY_ONBOARDING_ID_FIELD": "onboardingid",
            "SANDBOX_CONNECTFI_TOKEN_SHAPE": "object",
            "SANDBOX_CDP_TOKEN_TTL": "120",
            "SANDBOX_WEBHOOK_DELAY": "0.5",
        }
    )

    assert config.sandbox_options == {
        "signzy_auth_header": "bearer",
        "signzy_onboarding_id_field": "onboardingid",
        "connectfi_token_shape": "object",
        "cdp_token_ttl": 120,
        "webhook_delay": 0.5,
    }


def test_every_option_is_a_cli_flag_with_its_default():
    arguments = _parse_args(["--cdp-refresh-ttl", "60"])

    assert arguments.cdp_refresh_ttl == 60
    assert arguments.signzy_token_ttl == 1209600
    assert arguments.quiet is False


def test_options_are_declared_by_the_registrys_providers_only():
    names = {option.name for option in ProviderSandbox.options()}
    assert {"slow_seconds", "quiet", "signzy_auth_header", "cdp_token_ttl", "connectfi_token_ttl"} <= names
    assert len(names) == len(ProviderSandbox.options())  # no option declared twice
    assert len(PROVIDERS) == len(ProviderSandbox.prefixes())


def test_an_unknown_option_is_refused():
    with pytest.raises(TypeError, match="unknown sandbox options: cdp_token_tll"):
        ProviderSandbox(SECRETS, cdp_token_tll=5)


@pytest.mark.parametrize(
    ("option", "value"),
    [("connectfi_webhook_field", "webhookurl"), ("connectfi_token_shape", "list"), ("signzy_auth_header", "Bearer")],
)
def test_a_value_outside_an_options_readings_is_refused(option, value):
    with pytest.raises(ValueError, match=f"{option} must be one of: "):
        ProviderSandbox(SECRETS, **{option: value})
