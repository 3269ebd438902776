"""Settings: validated once, clear errors for what is missing or malformed."""

from __future__ import annotations

import pytest

from kyc_gateway.errors import ConfigurationError
from kyc_gateway.settings import Settings, get_settings


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
