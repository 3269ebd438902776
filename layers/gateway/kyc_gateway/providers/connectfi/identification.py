"""connectFi identification at the API edge: the caller's request, the callback URL it may name (the gateway's own
host or CONNECTFI_WEBHOOK_HOSTS: connectFi's callbacks carry customer data), and the gateway's own webhook URL when
it names none. The call itself, and which spelling of the callback field connectFi reads, are the client's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from kyc_gateway.errors import RequestValidationError
from kyc_gateway.model import Model
from kyc_gateway.provider_response import ProviderResponse
from kyc_gateway.providers.connectfi.client import ConnectFiClient
from kyc_gateway.providers.connectfi.common import NO_MARKUP, ConnectFiId, answered_ids, webhook_token
from kyc_gateway.settings import get_settings

WEBHOOK_PATH = "/connectfi/webhooks/{token}"  # the gateway's own route

# How a caller finds out whether an identification that timed out was started (never sent twice under one key).
IDENTIFICATION_OUTCOME_CHECK = (
    "connectFi may have started an application for this customer and reference, and offers no lookup by "
    "reference: ask connectFi whether one exists before starting another identification under a new Idempotency-Key"
)

# The documented schemas ("common-id", "common-reference", "common-commonStr500").
Reference = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9a-zA-Z]+$")]
WebhookUrl = Annotated[str, StringConstraints(max_length=500, pattern=NO_MARKUP)]


class IdentificationRequest(Model):
    """`webhookUrl` (the example's spelling) or `webhookURL` (the schema table's), not both. Absent or `null`
    means the gateway's own webhook URL (clients that serialise an unset field as null keep their callbacks); a
    URL must be https on the gateway's own host or one of CONNECTFI_WEBHOOK_HOSTS (400 otherwise), and is then
    forwarded as sent, as is the empty string (no callback)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customerId: ConnectFiId
    reference: Reference
    syncMode: bool | None = None
    webhookUrl: WebhookUrl | None = None
    webhookURL: WebhookUrl | None = None

    @model_validator(mode="after")
    def _one_webhook_spelling(self) -> IdentificationRequest:
        if self.webhookUrl is not None and self.webhookURL is not None:
            raise ValueError("give webhookUrl or webhookURL, not both")
        return self

    @property
    def webhook(self) -> str | None:
        return self.webhookUrl if self.webhookUrl is not None else self.webhookURL


class Identification(Model):
    """An identification as the API edge hands it over: the caller's body, and the gateway's own public URL
    (for the default webhook URL), which is not part of the body (nor of its idempotency fingerprint)."""

    body: IdentificationRequest
    public_base_url: str | None = Field(None, exclude=True)

    def audit_subjects(self, answer: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
        """What the audit trail records it under (kyc_gateway.audit): the customer, and the application started."""
        yield "customer", self.body.customerId
        yield from answered_ids(answer, "application", "applicationId")

    @classmethod
    def checked(
        cls, body: IdentificationRequest, public_base_url: str | None, *, also_own: str | None = None
    ) -> Identification:
        """The identification, or 400 when the caller's webhook URL would send connectFi's callbacks (customer data)
        to a host neither the gateway's own (`public_base_url`'s, `also_own`'s: the URL the request came in at) nor
        in CONNECTFI_WEBHOOK_HOSTS. An empty URL (no callback) passes."""
        if body.webhook and not _allowed_callback(body.webhook, (public_base_url, also_own)):
            field = "webhookUrl" if body.webhookUrl is not None else "webhookURL"
            issue = "must be https (http: local stack) on the gateway's own host or one of CONNECTFI_WEBHOOK_HOSTS"
            raise RequestValidationError(details=[{"field": field, "issue": issue, "type": "host_not_allowed"}])
        return cls(body=body, public_base_url=public_base_url)


# scheme://host[:port] then a path, query or fragment, or nothing: no user info, no backslash, no space or control
# character before the path, which URL parsers read differently (the host one sees is not the host another calls).
_CALLBACK_URL = re.compile(r"(?P<scheme>https?)://(?P<host>[a-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?([/?#].*)?", re.I | re.S)


def _allowed_callback(url: str, own_urls: tuple[str | None, ...]) -> bool:
    settings = get_settings()
    allowed = set(settings.connectfi_webhook_hosts)
    for own_url in own_urls:
        own = _CALLBACK_URL.fullmatch(own_url or "")
        if own:
            allowed.add(_host(own["host"]))
    if settings.environment == "local" and allowed & _LOOPBACK:
        allowed |= _LOOPBACK  # the local stack's own machine, by either of its names
    found = _CALLBACK_URL.fullmatch(url)
    if not found or _host(found["host"]) not in allowed:
        return False
    if found["port"] is not None and not 0 < int(found["port"]) < 65536:  # no callback could reach it
        return False
    # plain http only on the local stack, as for every URL the gateway calls
    return found["scheme"].lower() == "https" or settings.environment == "local"


_LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def _host(host: str) -> str:
    return host.lower().removesuffix(".")


def identification(request: Identification) -> ProviderResponse:
    """Start an identification; without a webhookUrl, callbacks go to the gateway's own webhook route. (Its handler
    records the started application: write_answers.recorded.)"""
    default_url = None
    if request.body.webhook is None and request.public_base_url:
        default_url = request.public_base_url + WEBHOOK_PATH.format(token=webhook_token())
    return ConnectFiClient.instance().identification(request.body, default_url)
