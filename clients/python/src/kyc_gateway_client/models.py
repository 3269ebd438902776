"""Request bodies of the gateway's routes, generated from openapi.json by local/client_models.py."""

from __future__ import annotations

from typing import Literal, Required, TypedDict

__all__ = [
    "AdditionalDocument",
    "Address",
    "CustomerClassification",
    "CustomerLookupRequest",
    "Document",
    "DocumentRequest",
    "IdDetail",
    "IdentificationRequest",
    "KraPinRequest",
    "OnboardingRequest",
    "RepushRequest",
    "SocialLink",
    "StatusRequest",
    "UpdateDocument",
    "UpdateRequest",
]


class AdditionalDocument(TypedDict, total=False):
    """AdditionalDocument."""

    base64_data: Required[str]
    content_type: Required[str]
    document_id: str | None


class Address(TypedDict, total=False):
    """Address."""

    address_type_id: str | None
    building_name: str | None
    street_name: str | None
    landmark: str | None
    city: str | None
    district: str | None
    state: str | None
    country: str | None
    zip: int | None
    po_box: str | None
    mobile_number: str | None


class CustomerClassification(TypedDict, total=False):
    """CustomerClassification."""

    customer_type_id: int | None
    annual_income_range_id: int | None
    annual_income_currency_code: str | None
    social_security_number: str | None
    tax_registration_number: int | str | None
    txn_issued_country: str | None
    employer_name: str | None
    employer_address: str | None
    employer_phone: str | None
    employer_ecrn: str | None
    employer_establishment_id: str | None
    risk_rating_id: int | None
    pep_category: int | None
    personal_mohre_id: str | None
    income_type: int | None
    profession_category: str | None
    reason_for_acc: str | None
    txn_vol_month: int | None
    txn_count_month: int | None
    show_remarks_on_txn: bool | None
    customer_remarks: str | None
    agent_ref_no: str | None
    social_links: list[SocialLink] | None
    first_language: str | None
    marital_status: int | None
    dnfbp: bool | None
    dpms: bool | None
    profile_category: int | None
    profile_photo: Document | None


class CustomerLookupRequest(TypedDict, total=False):
    """CustomerLookupRequest."""

    idNumber: Required[str]
    idType: Required[str]


class Document(TypedDict, total=False):
    """Document."""

    base64_data: Required[str]
    content_type: Required[str]


class DocumentRequest(TypedDict, total=False):
    """connectFi's generate fields as connectFi names them, the image (`file`, base64), and, to retry only the
    upload of a document generated before, its `documentId`."""

    workflow: Required[Literal["BUSINESS", "PERSONAL"]]
    name: Required[str]
    extension: Required[Literal["jpg", "png"]]
    type: Required[
        Literal[
            "contract",
            "license",
            "passport",
            "utility",
            "other",
            "internal",
            "identification_card",
            "residence_permit",
            "canada_provincial_id",
            "indigenous_card",
            "paystub",
            "bank_statement",
            "w2",
            "1099",
            "1120",
            "1065",
            "t1",
            "t4",
        ]
    ]
    note: str | None
    note_author_agent_email: str
    file: Required[str]
    documentId: str


class IdDetail(TypedDict, total=False):
    """IdDetail."""

    id_type: Required[int]
    id_number: Required[str]
    visa_number: str | None
    visa_expiry_date: str | None
    name_as_per_id: str | None
    issued_country: str | None
    issued_by: str | None
    issued_at: str | None
    issued_on: str | None
    date_of_expiry: str | None
    default_status: bool | None
    active_status: bool | None
    id_front: Document | None
    id_back: Document | None


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


class OnboardingRequest(TypedDict, total=False):
    """Required: `first_name` (the document's own mandatory-field failure names it) and at least one identity
    document (`id_details`)."""

    channel: str | None
    first_name: Required[str]
    salutation: str | None
    middle_name: str | None
    last_name: str | None
    preferred_name: str | None
    nationality: str | None
    second_nationality: str | None
    native_region: int | None
    date_of_birth: str | None
    country_of_birth: str | None
    place_of_birth: str | None
    resident_type_id: int | None
    country_of_residence: str | None
    gender: str | None
    mothers_maiden_name: str | None
    primary_mobile_number: str | None
    secondary_mobile_number: str | None
    email_id: str | None
    phone_number: str | None
    occupation_id: int | None
    political_exposed_person: bool | None
    updated_by: str | None
    additional_docs: list[AdditionalDocument] | None
    address_list: list[Address] | None
    id_details: Required[list[IdDetail]]
    customer_classification: CustomerClassification | None


class RepushRequest(TypedDict, total=False):
    """RepushRequest."""

    onboardingId: Required[str]


class SocialLink(TypedDict, total=False):
    """SocialLink."""

    social_links_id: int | None
    text_field: str | None


class StatusRequest(TypedDict, total=False):
    """StatusRequest."""

    customerId: Required[str]
    applicationId: Required[str]


class UpdateDocument(TypedDict, total=False):
    """One entry of the update's `documents`: a connectFi document id (and its side); other fields are connectFi's
    to rule on."""

    documentId: str
    side: str


class UpdateRequest(TypedDict, total=False):
    """An /akepa/update body, forwarded as sent."""

    customerId: str
    applicationId: str
    entityId: str
    documents: list[UpdateDocument]
