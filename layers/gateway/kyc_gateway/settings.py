"""Validated settings, read from the environment once per cold start."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from kyc_gateway.errors import ConfigurationError
from kyc_gateway.model import Model
from kyc_gateway.registry import BY_NAME, PROVIDERS, ProviderEntry

HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
"""A DNS host name (or an IPv4 address), lower case: no port, no scheme, no wildcard."""


# The most consecutive failed calls PROVIDER_CIRCUIT_FAILURES may ask for before a provider's circuit opens.
CIRCUIT_FAILURES_MAX = 100


class Settings(Model):
    """Every environment variable the gateway reads. A function only needs the ones its provider uses. Provider
    base URLs and secret ids are read by the provider registry's names (`<PREFIX>_BASE_URL`, `<PREFIX>_SECRET_ID`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    environment: str = Field("local", alias="ENVIRONMENT")
    base_urls: dict[str, str] = Field(default_factory=dict)  # by provider name
    secret_ids: dict[str, str] = Field(default_factory=dict)  # by provider name
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    connectfi_webhook_secret_id: str | None = Field(None, alias="CONNECTFI_WEBHOOK_SECRET_ID")
    webhook_queue_url: str | None = Field(None, alias="WEBHOOK_QUEUE_URL")
    applications_table_name: str | None = Field(None, alias="APPLICATIONS_TABLE_NAME")
    idempotency_table_name: str | None = Field(None, alias="IDEMPOTENCY_TABLE_NAME")
    event_bus_name: str = Field("default", alias="EVENT_BUS_NAME")
    token_table_name: str | None = Field(None, alias="TOKEN_TABLE_NAME")
    # The audit trail (docs/audit.md): its table, the secret holding its fingerprint keys, how long records are kept.
    audit_table_name: str | None = Field(None, alias="AUDIT_TABLE_NAME")
    audit_key_secret_id: str | None = Field(None, alias="AUDIT_KEY_SECRET_ID")
    audit_retention_days: int = Field(1828, ge=1, alias="AUDIT_RETENTION_DAYS")
    # Whether a route that calls a provider refuses a request without X-Request-Purpose (why the provider is asked).
    require_request_purpose: bool = Field(False, alias="REQUIRE_REQUEST_PURPOSE")
    # Its tamper-evident copy (kyc_gateway.audit_archive): the Object Lock bucket every change of the table goes to.
    audit_archive_bucket: str | None = Field(None, alias="AUDIT_ARCHIVE_BUCKET")
    # The EzKRA repush page documents "Bearer <token>"; other EzKRA pages send the raw token. `auto` sends the
    # documented form and switches once when a token is refused; bearer/raw pin one form.
    signzy_auth_header: Literal["auto", "bearer", "raw"] = Field("auto", alias="SIGNZY_AUTH_HEADER")
    # The repush page's text spells the body field onboardingid; its sample answer's camelCase suggests onboardingId.
    # `auto` sends onboardingId and, when Signzy reads no id under it, onboardingid once; a spelling pins it.
    signzy_onboarding_id_field: Literal["auto", "onboardingId", "onboardingid"] = Field(
        "auto", alias="SIGNZY_ONBOARDING_ID_FIELD"
    )
    # connectFi's schema table spells the field webhookURL, its example body webhookUrl; it rejects unknown fields.
    connectfi_webhook_field: Literal["auto", "webhookUrl", "webhookURL"] = Field(
        "auto", alias="CONNECTFI_WEBHOOK_FIELD"
    )
    # Hosts a caller's webhookUrl may point connectFi's callbacks (customer data) at, besides the gateway's own.
    connectfi_webhook_hosts: frozenset[str] = Field(frozenset(), alias="CONNECTFI_WEBHOOK_HOSTS")
    connect_timeout_seconds: float = Field(3.05, gt=0, le=10, alias="PROVIDER_CONNECT_TIMEOUT_SECONDS")
    read_timeout_seconds: float = Field(10.0, gt=0, le=25, alias="PROVIDER_READ_TIMEOUT_SECONDS")
    # Whole time a request may spend on one provider, retries included: below the Lambda timeout (25 s)
    # so a slow provider becomes our 504, never API Gateway's.
    provider_budget_seconds: float = Field(20.0, gt=0, le=25, alias="PROVIDER_BUDGET_SECONDS")
    provider_max_attempts: int = Field(3, ge=1, le=5, alias="PROVIDER_MAX_ATTEMPTS")
    # Consecutive failed calls (after retries) that open a provider's circuit, and how long it stays open.
    circuit_failure_threshold: int = Field(10, ge=1, le=CIRCUIT_FAILURES_MAX, alias="PROVIDER_CIRCUIT_FAILURES")
    circuit_cooldown_seconds: float = Field(15.0, gt=0, le=600, alias="PROVIDER_CIRCUIT_COOLDOWN_SECONDS")
    # How long after its last change an application that is not final is re-checked with connectFi.
    reconcile_after_seconds: float = Field(600.0, ge=0, alias="RECONCILE_AFTER_SECONDS")
    # An application whose state has not changed for this long is no longer re-checked (kept as stored).
    reconcile_max_age_seconds: float = Field(30 * 24 * 3600.0, gt=0, alias="RECONCILE_MAX_AGE_SECONDS")
    # A webhook record that failed because connectFi did waits this long before its second try, doubling after.
    webhook_retry_base_seconds: float = Field(30.0, gt=0, le=900, alias="WEBHOOK_RETRY_BASE_SECONDS")
    # How long an instance reuses a fetched secret; a provider refusing it makes the instance fetch it at once.
    secret_max_age_seconds: float = Field(300.0, ge=0, le=3600, alias="SECRETS_MAX_AGE_SECONDS")

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return _url(value)

    @field_validator("connectfi_webhook_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        """Comma-separated host names, compared as DNS compares them (any case, without the root's dot)."""
        if not isinstance(value, str):
            return value
        hosts = {host.strip().lower().removesuffix(".") for host in value.split(",")} - {""}
        for host in hosts:
            if not HOST_NAME.fullmatch(host):
                raise ValueError("must be host names, comma-separated")
        return frozenset(hosts)

    def require(self, name: str) -> str:
        """The named setting, or a ConfigurationError naming the missing environment variable."""
        value = getattr(self, name)
        if value is None:
            alias = type(self).model_fields[name].alias
            raise ConfigurationError(f"{alias} is not configured")
        return value

    def base_url(self, provider: str) -> str:
        return self._provider_value(self.base_urls, provider, "base_url_variable")

    def secret_id(self, provider: str) -> str:
        return self._provider_value(self.secret_ids, provider, "secret_id_variable")

    @staticmethod
    def _provider_value(values: dict[str, str], provider: str, variable: str) -> str:
        if provider not in values:
            raise ConfigurationError(f"{getattr(BY_NAME[provider], variable)} is not configured")
        return values[provider]


def _url(value: str | None) -> str | None:
    """An http(s) URL without a trailing slash; empty means unset."""
    if value is None or not value.strip():
        return None
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


@functools.cache
def get_settings() -> Settings:
    """Settings from the environment, validated once and reused for the life of the instance."""
    names = {field.alias for field in Settings.model_fields.values() if field.alias}
    values: dict[str, object] = {name: os.environ[name] for name in names if name in os.environ}
    # Deployed, every URL the gateway calls or hands out is HTTPS; only the local stack serves plain http.
    check = _url if os.environ.get("ENVIRONMENT", "local") == "local" else _https_url
    values["base_urls"] = _provider_values(lambda entry: entry.base_url_variable, check)
    values["secret_ids"] = _provider_values(lambda entry: entry.secret_id_variable, lambda value: value or None)
    if values.get("PUBLIC_BASE_URL"):
        try:
            check(str(values["PUBLIC_BASE_URL"]))
        except ValueError:
            raise ConfigurationError("invalid configuration: PUBLIC_BASE_URL") from None
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        fields = ", ".join(str(issue["loc"][0]) for issue in error.errors())
        raise ConfigurationError(f"invalid configuration: {fields}") from None


def _https_url(value: str) -> str | None:
    url = _url(value)
    if url and not url.startswith("https://"):
        raise ValueError("must be an https URL")
    return url


def _provider_values(variable: Callable[[ProviderEntry], str], check: Callable[[str], str | None]) -> dict[str, str]:
    """Each registered provider's value of one setting (`<PREFIX>_BASE_URL`...), by provider name."""
    values = {}
    for entry in PROVIDERS:
        name = variable(entry)
        if name not in os.environ:
            continue
        try:
            value = check(os.environ[name])
        except ValueError:
            raise ConfigurationError(f"invalid configuration: {name}") from None
        if value:
            values[entry.name] = value
    return values
