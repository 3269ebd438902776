"""CDP Individual Onboarding payload: every field of the document's payload, with its constraints.

The document's field table stops after the headers, so lengths come from the Customer Lookup response table
where a field appears there (names 100/60/60, phone 20, email 255) and are otherwise generous bounds. Dates are
YYYY-MM-DD, countries ISO 3166-1 alpha-2, phone numbers E.164 with a leading "+", documents base64 with an
image or PDF content type. Integer codes must be JSON numbers and flags JSON booleans (strict): the body is
forwarded to CDP as the caller sent it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kyc_gateway.fields import (
    Base64Data,
    CountryCode,
    CurrencyCode,
    Email,
    ForwardedAsSent,
    IsoDate,
    PastDate,
    PhoneNumber,
    text,
)

Code = Annotated[int, Field(ge=0, le=999_999_999)]
Name = text(100, min_length=1)
DocumentContentType = Literal["image/jpeg", "image/png", "application/pdf"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Document(_Strict):
    base64_data: Base64Data
    content_type: DocumentContentType


class AdditionalDocument(Document):
    document_id: text(20, min_length=1)


class Address(_Strict):
    address_type_id: text(10, min_length=1)
    building_name: text(100) | None = None
    street_name: text(100) | None = None
    landmark: text(100) | None = None
    city: text(60) | None = None
    district: text(60) | None = None
    state: text(60) | None = None
    country: CountryCode
    zip: Code | None = None
    po_box: text(20) | None = None
    mobile_number: PhoneNumber | None = None


class IdDetail(_Strict):
    id_type: Code
    id_number: text(30, min_length=1)
    visa_number: text(30) | None = None
    visa_expiry_date: IsoDate | None = None
    name_as_per_id: text(200) | None = None
    issued_country: CountryCode
    issued_by: text(100) | None = None
    issued_at: text(100) | None = None
    issued_on: IsoDate | None = None
    date_of_expiry: IsoDate
    default_status: bool | None = None
    active_status: bool | None = None
    id_front: Document | None = None
    id_back: Document | None = None

    @model_validator(mode="after")
    def _issued_before_expiry(self) -> IdDetail:
        if self.issued_on and self.issued_on > self.date_of_expiry:
            raise ValueError("issued_on must not be after date_of_expiry")
        return self


class SocialLink(_Strict):
    social_links_id: Code
    text_field: text(255, min_length=1)


class CustomerClassification(_Strict):
    customer_type_id: Code | None = None
    annual_income_range_id: Code | None = None
    annual_income_currency_code: CurrencyCode | None = None
    social_security_number: text(30) | None = None
    tax_registration_number: Code | text(30) | None = None
    txn_issued_country: CountryCode | None = None
    employer_name: text(100) | None = None
    employer_address: text(255) | None = None
    employer_phone: PhoneNumber | None = None
    employer_ecrn: text(20) | None = None
    employer_establishment_id: text(50) | None = None
    risk_rating_id: Code | None = None
    pep_category: Code | None = None
    personal_mohre_id: text(50) | None = None
    income_type: Code | None = None
    profession_category: text(20) | None = None
    reason_for_acc: text(100) | None = None
    txn_vol_month: Code | None = None
    txn_count_month: Code | None = None
    show_remarks_on_txn: bool | None = None
    customer_remarks: text(255) | None = None
    agent_ref_no: text(50) | None = None
    social_links: list[SocialLink] | None = Field(None, max_length=20)
    first_language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] | None = None
    marital_status: Code | None = None
    dnfbp: bool | None = None
    dpms: bool | None = None
    profile_category: Code | None = None
    profile_photo: Document | None = None


class OnboardingRequest(ForwardedAsSent, _Strict):
    """Required: the identity core CDP cannot onboard without (names, birth date, nationality, residence,
    gender, mobile number, channel and at least one identity document); everything else is optional."""

    channel: text(20, min_length=1)
    first_name: Name
    salutation: text(10) | None = None
    middle_name: text(60) | None = None
    last_name: text(60, min_length=1)
    preferred_name: text(100) | None = None
    nationality: CountryCode
    second_nationality: CountryCode | None = None
    native_region: Code | None = None
    date_of_birth: PastDate
    country_of_birth: CountryCode | None = None
    place_of_birth: text(100) | None = None
    resident_type_id: Code | None = None
    country_of_residence: CountryCode
    gender: Literal["Male", "Female", "Other"]
    mothers_maiden_name: text(100) | None = None
    primary_mobile_number: PhoneNumber
    secondary_mobile_number: PhoneNumber | None = None
    email_id: Email | None = None
    phone_number: PhoneNumber | None = None
    occupation_id: Code | None = None
    political_exposed_person: bool | None = None
    updated_by: text(50) | None = None
    additional_docs: list[AdditionalDocument] | None = Field(None, max_length=10)
    address_list: list[Address] | None = Field(None, max_length=10)
    id_details: list[IdDetail] = Field(min_length=1, max_length=10)
    customer_classification: CustomerClassification | None = None
