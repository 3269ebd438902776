"""Settings: validated once, clear errors for what is missing or malformed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyc_gateway.errors import ConfigurationError
from kyc_gateway.settings import Settings, get_settings
from project import template as cfn

HOSTS_PARAMETER = cfn.load()["Parameters"]["ConnectFiWebhookHosts"]


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_base_urls_keep_their_path_prefix_and_lose_a_trailing_slash(monkeypatch):
    monkeypatch.setenv("CLADFY_BASE_URL", " https://identity.cladfy.app/api/v1/ ")

    assert get_settings().base_url("cladfy") == "https://identity.cladfy.app/api/v1"


def test_a_base_url_that_is_not_http_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("SIGNZY_BASE_URL", "ftp://signzy.example")

    with pytest.raises(ConfigurationError, match="SIGNZY_BASE_URL"):
        get_settings()


def test_a_missing_required_setting_names_its_environment_variable():
    with pytest.raises(ConfigurationError, match="CDP_BASE_URL is not configured") as raised:
        Settings().base_url("cdp")
    assert raised.value.status == 500


def test_settings_are_read_once(monkeypatch):
    monkeypatch.setenv("SIGNZY_AUTH_HEADER", "raw")
    first = get_settings()
    monkeypatch.setenv("SIGNZY_AUTH_HEADER", "bearer")

    assert get_settings() is first
    assert first.signzy_auth_header == "raw"


@pytest.mark.parametrize("environment", ["dev", "prod"])
@pytest.mark.parametrize("variable", ["CLADFY_BASE_URL", "SIGNZY_BASE_URL", "CDP_BASE_URL", "CONNECTFI_BASE_URL"])
def test_deployed_a_plain_http_base_url_is_a_configuration_error_naming_it(monkeypatch, environment, variable):
    # Given a deployed environment (CDP's and connectFi's hosts come from SSM, unchecked by the template)
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv(variable, "http://partner.example/api")
    # When the settings are read, Then the URL is refused, by name
    with pytest.raises(ConfigurationError, match=variable):
        get_settings()


def test_deployed_a_plain_http_public_base_url_is_refused_and_https_ones_are_kept(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("CONNECTFI_BASE_URL", "https://connectfi.partner.example")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://kyc.example.com")
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        get_settings()
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://kyc.example.com")
    get_settings.cache_clear()
    assert get_settings().base_url("connectfi") == "https://connectfi.partner.example"


def test_the_local_stack_accepts_its_plain_http_sandbox(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("CDP_BASE_URL", "http://127.0.0.1:4010/cdp")
    assert get_settings().base_url("cdp") == "http://127.0.0.1:4010/cdp"


def test_the_callback_allow_list_is_read_once_as_host_names_in_lower_case(monkeypatch):
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", " Hooks.Partner.example,, callbacks.example. ,10.0.0.7")

    assert get_settings().connectfi_webhook_hosts == {"hooks.partner.example", "callbacks.example", "10.0.0.7"}


def allow_list_accepted(value: str) -> bool:
    try:
        Settings.model_validate({"CONNECTFI_WEBHOOK_HOSTS": value})
    except ValueError:
        return False
    return True


@given(st.text(alphabet="aZ9-._,/:", max_size=HOSTS_PARAMETER["MaxLength"]))
def test_the_template_parameter_takes_no_allow_list_the_function_would_refuse(value):
    # Given a value CloudFormation takes for the stack's allow-list parameter
    if re.fullmatch(HOSTS_PARAMETER["AllowedPattern"], value):
        # Then the function's settings take it too (else every identification would be 500 after a deploy)
        assert allow_list_accepted(value), value


@pytest.mark.parametrize("value", ["a..b", "-x.example", "x-.example", "a_b.example", "a.example,b/c", "a" * 64])
def test_the_template_parameter_refuses_what_is_not_a_host_name(value):
    assert not re.fullmatch(HOSTS_PARAMETER["AllowedPattern"], value)
    assert not allow_list_accepted(value)


@pytest.mark.parametrize("value", ["", "Hooks.Partner.example", "a.example.,10.0.0.7", "a,,b", "x-1.example"])
def test_the_template_parameter_takes_host_names(value):
    assert re.fullmatch(HOSTS_PARAMETER["AllowedPattern"], value)
    assert allow_list_accepted(value)


@pytest.mark.parametrize(
    "hosts", ["https://hooks.example", "hooks.example/path", "*.example.com", "hooks.example:443", "a b", "-x.example"]
)
def test_an_allow_list_entry_that_is_not_a_bare_host_name_is_a_configuration_error_naming_it(monkeypatch, hosts):
    monkeypatch.setenv("CONNECTFI_WEBHOOK_HOSTS", f"ok.example,{hosts}")

    with pytest.raises(ConfigurationError, match="CONNECTFI_WEBHOOK_HOSTS"):
        get_settings()
