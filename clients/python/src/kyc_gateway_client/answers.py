"""Success bodies of the gateway's caller routes, generated from openapi.json by generators/client_models.py."""

from typing import Any, Literal, Required, TypedDict

__all__ = [
    "ApplicationAnswer",
    "ApplicationState",
    "AuditRecord",
    "AuditSearchAnswer",
    "CustomerLookupAnswer",
    "CustomerLookupData",
    "DocumentAnswer",
    "EntityApplication",
    "KraPinAnswer",
    "KraPinDetails",
    "OnboardingAnswer",
    "OnboardingData",
    "RepushAnswer",
    "StoredApplication",
    "UpdateAnswer",
]


class EntityApplication(TypedDict, total=False):
    """One entity of an application: the customer itself, or a related party of a business."""

    entityId: str | None
    isCustomer: bool | None
    status: str | None
    outcome: str | None


class ApplicationState(TypedDict, total=False):
    """An application's state, as connectFi's examples show it."""

    applicationId: str | None
    aggregatorId: str | None
    customerId: str | None
    reference: str | None
    status: str | None
    outcome: str | None
    entityApplications: list[EntityApplication] | None


class ApplicationAnswer(TypedDict, total=False):
    """connectFi's application envelope as connectFi sends it: the answer to an identification or a status."""

    code: Required[Literal["0", 0]]
    data: Required[ApplicationState]
    requestId: str | None


class AuditRecord(TypedDict, total=False):
    """One audit record: no personal datum, the subject only as its fingerprint."""

    fingerprint: Required[str]
    at: Required[str]
    time: Required[str]
    subjectKind: str
    keyVersion: str
    caller: Required[str]
    route: Required[str]
    provider: Required[str]
    operation: Required[str]
    status: Required[int]
    code: Required[str]
    providerStatus: int | str | None
    providerCode: int | str | None
    providerRequestId: str | None
    providerCalls: list[dict[str, Any]] | None
    correlationId: str
    apiRequestId: str | None
    functionVersion: str | None
    idempotencyKey: str | None
    purpose: str | None
    replay: bool | None
    expiresAt: int | None
    recordsFound: int | None


class AuditSearchAnswer(TypedDict, total=False):
    """One page of a subject's audit records, newest first."""

    records: Required[list[AuditRecord]]
    nextToken: Required[str | None]


class CustomerLookupData(TypedDict, total=False):
    """The customer CDP found, as its response table types it."""

    ecrn: str
    first_name: str
    middle_name: str
    last_name: str
    agent_location_id: str
    primary_mobile_number: str
    email_id: str
    customer_status: str
    aml_scan_status: str
    id_status: str
    id_date_of_expiry: str


class CustomerLookupAnswer(TypedDict, total=False):
    """CDP's Customer Lookup v2 answer as CDP sends it (the gateway passes only `status` success with `data`)."""

    status: Required[Literal["success"]]
    statusCode: int
    errorCode: int
    message: str
    data: Required[CustomerLookupData]


class DocumentAnswer(TypedDict, total=False):
    """connectFi's answer to the image's upload as connectFi sends it, with the document's id and upload status
    named at the top by the gateway."""

    documentId: Required[str]
    uploadStatus: Required[Literal[True]]
    code: Literal["0", 0]
    data: Any
    requestId: str | None


class KraPinDetails(TypedDict, total=False):
    """The taxpayer registered under the PIN, each field a string (`X` flags such as `Vat` included)."""

    Business_Certificate_Id: Required[str]
    Email_Addresses: Required[str]
    Locality: Required[str]
    PINNo: Required[str]
    Partnership: Required[str]
    Paye: Required[str]
    Station: Required[str]
    TaxpayerName: Required[str]
    Tot: Required[str]
    Trading_Business_Name: Required[str]
    Vat: Required[str]


class KraPinAnswer(TypedDict, total=False):
    """Cladfy's KRA PIN details as Cladfy sends them (the gateway passes only an answer with `success` true and
    every field of Cladfy's table, of its type: any other is a 502)."""

    success: Required[Literal[True]]
    response_code: Required[int]
    message: Required[str]
    data: Required[KraPinDetails]
    request_id: Required[str]


class OnboardingData(TypedDict, total=False):
    """The onboarded customer, as CDP's example shows it."""

    aml_scan_status: str | None
    ecrn: Required[str | int]
    customer_status: str | None
    pep: bool | None
    aml_category: int | None


class OnboardingAnswer(TypedDict, total=False):
    """CDP's Individual Onboarding answer as CDP sends it (shown by example only; the gateway passes only `status`
    success with the ECRN in `data`)."""

    status: Required[Literal["success"]]
    data: Required[OnboardingData]
    status_code: int | None
    request_id: str | None


class RepushAnswer(TypedDict, total=False):
    """Signzy's answer to a repush, as Signzy sends it (its page shows it by example only: every field may be
    absent)."""

    onboardingId: str | None
    customerId: str | None
    callbackUrl: str | None
    message: str | None


class StoredApplication(TypedDict, total=False):
    """The application's latest state the gateway confirmed with connectFi and stored: connectFi's values, null
    where connectFi gave none."""

    applicationId: Required[str]
    customerId: Required[str | None]
    reference: Required[str | None]
    aggregatorId: Required[str | None]
    status: Required[str | None]
    outcome: Required[str | None]
    entityApplications: Required[list[EntityApplication]]
    createdAt: Required[str]
    updatedAt: Required[str]


class UpdateAnswer(TypedDict, total=False):
    """connectFi's answer to an update as connectFi sends it: its success code; its data, when it holds one, the
    application's state (connectFi publishes no field of this answer)."""

    code: Required[Literal["0", 0]]
    data: Any
    requestId: str | None
