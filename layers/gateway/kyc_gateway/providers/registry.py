"""The one list of providers. Settings, the local stack, the provider sandbox and the tests read it; a test checks
that it agrees with template.yaml, events/ and local/secrets.local.json. Adding a provider starts here
(docs/adding-a-provider.md).

Plain data with no imports of its own: reading it costs a cold start nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    """The provider's name everywhere: the error envelope's `provider`, its token rows' key prefix (`cdp#...`), its
    section of local/secrets.local.json, its page docs/providers/<name>.md."""
    settings_prefix: str
    """Environment variables `<prefix>_BASE_URL` and `<prefix>_SECRET_ID`."""
    base_url_parameter: str
    """The template parameter holding its base URL per environment."""
    secret: str
    """The template's Secrets Manager secret (logical id) holding its credentials."""
    client: str
    """The module of its client (a `ProviderClient` subclass, and the operations its handlers call)."""
    sandbox: str
    """The module of the local provider sandbox that plays it."""

    @property
    def base_url_variable(self) -> str:
        return f"{self.settings_prefix}_BASE_URL"

    @property
    def secret_id_variable(self) -> str:
        return f"{self.settings_prefix}_SECRET_ID"


PROVIDERS: tuple[ProviderEntry, ...] = (
    ProviderEntry(
        "cladfy", "CLADFY", "CladfyBaseUrl", "CladfySecret", "kyc_gateway.providers.cladfy", "local.sandbox.cladfy"
    ),
    ProviderEntry(
        "signzy", "SIGNZY", "SignzyBaseUrl", "SignzySecret", "kyc_gateway.providers.signzy", "local.sandbox.signzy"
    ),
    ProviderEntry("cdp", "CDP", "CdpBaseUrl", "CdpSecret", "kyc_gateway.providers.cdp", "local.sandbox.cdp"),
    ProviderEntry(
        "connectfi",
        "CONNECTFI",
        "ConnectFiBaseUrl",
        "ConnectFiSecret",
        "kyc_gateway.providers.connectfi.client",
        "local.sandbox.connectfi",
    ),
)
BY_NAME = {entry.name: entry for entry in PROVIDERS}
