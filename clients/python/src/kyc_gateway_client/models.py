"""Request bodies of the gateway's caller routes, generated from openapi.json by generators/client_models.py."""

from typing import Any, Literal, Required, TypedDict

__all__ = [
    "CustomerLookupRequest",
    "DocumentRequest",
    "IdentificationRequest",
    "KraPinRequest",
    "OnboardingRequest",
    "RepushRequest",
    "SearchRequest",
    "StatusRequest",
    "UpdateRequest",
]


class CustomerLookupRequest(TypedDict, total=False):
    """Customer Lookup v2's request table, and nothing more: both fields mandatory strings, `idNumber` at most 30
    characters, `idType` at most 3."""

    idNumber: Required[str]
    idType: Required[str]


class DocumentRequest(TypedDict, total=False):
    """connectFi's generate fields as connectFi names them, the image (`file`, base64), and, to retry only the
    upload of a document generated before, its `documentId`."""

    workflow: Required[Literal["BUSINESS", "PERSONAL"]]
    name: Required[str]
    extension: Required[Literal["jpg", "png"]]
    type: Required[str]
    note: str | None
    note_author_agent_email: str | None
    file: Required[str]
    documentId: str


class IdentificationRequest(TypedDict, total=False):
    """`webhookUrl` (the example's spelling) or `webhookURL` (the schema table's), not both."""

    customerId: Required[str]
    reference: Required[str]
    syncMode: bool | None
    webhookUrl: str | None
    webhookURL: str | None


class KraPinRequest(TypedDict, total=False):
    """KraPinRequest."""

    pinnumber: Required[str]


# Any JSON object, forwarded to CDP exactly as sent.
OnboardingRequest = dict[str, Any]


class RepushRequest(TypedDict, total=False):
    """The onboarding to re-push."""

    onboardingId: Required[str]


# Whose records: a provider and a subject (its value as the provider knows it; a CDP ID as `<id type>:<id number>`),
# optionally its kind (else every kind of the provider), a time range (ISO 8601, inclusive; a date alone is the
# whole day, UTC), a page size and the `nextToken` of the page before.
SearchRequest = TypedDict(
    "SearchRequest",
    {
        "provider": Required[str],
        "subject": Required[str],
        "kind": str | None,
        "from": str | None,
        "to": str | None,
        "limit": int,
        "nextToken": str | None,
    },
    total=False,
)


class StatusRequest(TypedDict, total=False):
    """StatusRequest."""

    customerId: Required[str]
    applicationId: Required[str]


class UpdateRequest(TypedDict, total=False):
    """An /akepa/update body, forwarded as sent."""

    customerId: str
    applicationId: str
    entityId: str
    documents: list[dict[str, Any] | str | int]
