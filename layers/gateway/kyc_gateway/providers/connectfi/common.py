"""What both sides of connectFi's webhooks share with its client: the provider's name, its identifiers and the
webhook URL's secret. Kept apart from the HTTP client so that the webhook receiver, the processor's parsing and the
stored-application route load no HTTP stack on a cold start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from kyc_gateway.lazy import once
from kyc_gateway.model import Model
from kyc_gateway.secrets import ProviderCredentials
from kyc_gateway.settings import get_settings

if TYPE_CHECKING:
    from kyc_gateway.provider_response import ProviderResponse

PROVIDER = "connectfi"
# connectFi's "common-id": its identifiers of customers, applications and their entities.
_ID_CHARACTERS, _ID_MAX_LENGTH = "[0-9a-zA-Z_]+", 36
ConnectFiId = Annotated[str, StringConstraints(min_length=1, max_length=_ID_MAX_LENGTH, pattern=f"^{_ID_CHARACTERS}$")]
# A document's id: connectFi publishes no format for it (its generate answers it as `data.id`), so any text, the
# upload's URL path carrying it percent-encoded, but for a dot segment, which no URL path can carry: HTTP clients
# and servers resolve "." and ".." away, and the upload would go to another address.
_DOT_SEGMENTS = (".", "..")
DOCUMENT_ID_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "not": {"enum": list(_DOT_SEGMENTS)},
    "description": "connectFi's document id, as connectFi answered it (connectFi publishes no format)",
}


def _addressable(value: str) -> str:
    if value in _DOT_SEGMENTS:
        raise ValueError("must be a document id, not a URL path's dot segment")
    return value


DocumentId = Annotated[
    str, StringConstraints(min_length=1), AfterValidator(_addressable), WithJsonSchema(DOCUMENT_ID_SCHEMA)
]
# connectFi's ^((?![<>]).)*$ ("common-commonStr...") read as JavaScript reads it: no < or >, and `.` matches no
# line terminator (\n, \r, U+2028, U+2029). The same language without look-ahead, which schema-driven fuzzers'
# regex engines lack.
NO_MARKUP = "^[^<>\n\r\u2028\u2029]*$"


def is_connectfi_id(value: object) -> bool:
    """Whether an identifier connectFi answered with has the format of its ids."""
    return isinstance(value, str) and len(value) <= _ID_MAX_LENGTH and re.fullmatch(_ID_CHARACTERS, value) is not None


def document_id_of(value: object) -> str | None:
    """A document id connectFi answered with, as text (a number too: connectFi shows none), or None when it cannot
    be one (absent, empty, another type, a dot segment)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value and value not in _DOT_SEGMENTS:
        return value
    return None


def is_application_state(data: dict[str, Any] | None) -> bool:
    """connectFi's application envelope `data`: its ids in connectFi's format and a status."""
    return (
        data is not None
        and all(is_connectfi_id(data.get(name)) for name in ("applicationId", "customerId"))
        and isinstance(data.get("status"), str)
        and data["status"] != ""
    )


WEBHOOK_TOKEN_MIN_LENGTH = 32


class WebhookSecret(Model):
    token: str = Field(min_length=WEBHOOK_TOKEN_MIN_LENGTH)


def webhook_token() -> str:
    """The secret in the gateway's webhook URL (connectFi signs nothing)."""
    return _webhook_secret().get().token


@once
def _webhook_secret() -> ProviderCredentials[WebhookSecret]:
    return ProviderCredentials(get_settings().require("connectfi_webhook_secret_id"), WebhookSecret)


def answered_ids(answer: dict[str, Any] | None, kind: str, *fields: str) -> Iterator[tuple[str, str]]:
    """An audit subject (kyc_gateway.audit) of `kind` from connectFi's answer: the first of `fields` holding an id
    (a document's id in any form it takes), at the top of the gateway's answer or in connectFi's `data`."""
    data = (answer or {}).get("data")
    for source in (answer or {}, data if isinstance(data, dict) else {}):
        for field in fields:
            value = source.get(field)
            found = document_id_of(value) if kind == "document" else value if is_connectfi_id(value) else None
            if found is not None:
                yield kind, found
                return


def envelope_data(response: ProviderResponse) -> dict[str, Any] | None:
    """The `data` object of connectFi's answer envelope, if it has one."""
    data = response.body.get("data") if isinstance(response.body, dict) else None
    return data if isinstance(data, dict) else None
