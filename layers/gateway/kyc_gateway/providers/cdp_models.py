"""CDP Individual Onboarding payload: every field of the document's payload, typed as its example shows.

The document gives an example payload, not a field table, so the gateway checks what it can know: JSON types
(integer codes are numbers, flags booleans, as in the example), documented formats (YYYY-MM-DD dates, two-letter
country and three-letter currency codes, base64 documents with a media type) and the lengths of CDP's own
customer record (its Customer Lookup table). Membership of CDP's master data (countries, id types, codes) is
CDP's to rule on (45053), and a field is required only where CDP cannot onboard without it; CDP's own 40002
answers for anything else it requires. Unknown fields are refused: only documented fields are forwarded.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from kyc_gateway.fields import (
    Base64Data,
    CountryCode,
    CurrencyCode,
    ForwardedAsSent,
    IsoDate,
    MediaType,
    text,
)
from kyc_gateway.model import Model


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class Document(_Strict):
    # Required: an image without its data or its type is not a document.
    base64_data: Base64Data
    content_type: MediaType


class AdditionalDocument(Document):
    document_id: str | None = None


class Address(_Strict):
    address_type_id: str | None = None
    building_name: str | None = None
    street_name: str | None = None
    landmark: str | None = None
    city: str | None = None
    district: str | None = None
    state: str | None = None
    country: CountryCode | None = None
    zip: int | None = None
    po_box: str | None = None
    mobile_number: str | None = None


class IdDetail(_Strict):
    # Required: CDP identifies a customer by id type and number (its lookup takes exactly these), and at most
    # 30 characters, the lookup's idNumber length.
    id_type: int
    id_number: text(30, min_length=1)
    visa_number: str | None = None
    visa_expiry_date: IsoDate | None = None
    name_as_per_id: str | None = None
    issued_country: CountryCode | None = None
    issued_by: str | None = None
    issued_at: str | None = None
    issued_on: IsoDate | None = None
    date_of_expiry: IsoDate | None = None
    default_status: bool | None = None
    active_status: bool | None = None
    id_front: Document | None = None
    id_back: Document | None = None


class SocialLink(_Strict):
    social_links_id: int | None = None
    text_field: str | None = None


class CustomerClassification(_Strict):
    customer_type_id: int | None = None
    annual_income_range_id: int | None = None
    annual_income_currency_code: CurrencyCode | None = None
    social_security_number: str | None = None
    tax_registration_number: int | str | None = None  # a number in the example, an identifier in nature
    txn_issued_country: CountryCode | None = None
    employer_name: str | None = None
    employer_address: str | None = None
    employer_phone: str | None = None
    employer_ecrn: str | None = None
    employer_establishment_id: str | None = None
    risk_rating_id: int | None = None
    pep_category: int | None = None
    personal_mohre_id: str | None = None
    income_type: int | None = None
    profession_category: str | None = None
    reason_for_acc: str | None = None
    txn_vol_month: int | None = None
    txn_count_month: int | None = None
    show_remarks_on_txn: bool | None = None
    customer_remarks: str | None = None
    agent_ref_no: str | None = None
    social_links: list[SocialLink] | None = None
    first_language: str | None = None
    marital_status: int | None = None
    dnfbp: bool | None = None
    dpms: bool | None = None
    profile_category: int | None = None
    profile_photo: Document | None = None


class OnboardingRequest(ForwardedAsSent, _Strict):
    """Required: `first_name` (the document's own mandatory-field failure names it) and at least one identity
    document (`id_details`). Name, phone and email lengths are those of CDP's customer record."""

    channel: str | None = None
    first_name: text(100, min_length=1)
    salutation: str | None = None
    middle_name: text(60) | None = None
    last_name: text(60) | None = None
    preferred_name: str | None = None
    nationality: CountryCode | None = None
    second_nationality: CountryCode | None = None
    native_region: int | None = None
    date_of_birth: IsoDate | None = None
    country_of_birth: CountryCode | None = None
    place_of_birth: str | None = None
    resident_type_id: int | None = None
    country_of_residence: CountryCode | None = None
    gender: str | None = None
    mothers_maiden_name: str | None = None
    primary_mobile_number: text(20) | None = None
    secondary_mobile_number: text(20) | None = None
    email_id: text(255) | None = None
    phone_number: text(20) | None = None
    occupation_id: int | None = None
    political_exposed_person: bool | None = None
    updated_by: str | None = None
    additional_docs: list[AdditionalDocument] | None = None
    address_list: list[Address] | None = None
    id_details: list[IdDetail] = Field(min_length=1)
    customer_classification: CustomerClassification | None = None
