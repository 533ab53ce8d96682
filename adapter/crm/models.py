"""The CRM contract: request and response bodies of the Contacts & Deals API.

Every validation rule here comes from the CRM's own document (crm-api.md §2.2,
§3.2, §4, §5). Where the CRM itself is lenient but the result is broken
(uppercase stages, `+00…` phones), the contract is strict, so that nothing we
send can be silently mangled.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

EMAIL_PATTERN = r"^[^\s@]+@[^\s@]+\.[^\s@]{2,}$"
# The document asks for "+ and 8-15 digits"; a leading zero after + is never E.164.
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
CUSTOM_FIELD_KEY_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
CUSTOM_FIELDS_MAX_BYTES = 32 * 1024
MAX_BULK_CONTACTS = 500
MAX_BULK_DEALS = 100
MAX_BULK_LEADS = 100

_EMAIL_RE = re.compile(EMAIL_PATTERN)
_KEY_RE = re.compile(CUSTOM_FIELD_KEY_PATTERN)


def _json_number(value: Decimal) -> int | float | Decimal:
    """Serialise money as a JSON number without going through binary float."""
    if value == value.to_integral_value():
        return int(value)
    return value


def _check_email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("not a valid email address")
    if value != value.lower():
        raise ValueError("email must be lowercase")
    return value


def _check_custom_fields(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not _KEY_RE.match(key):
            raise ValueError(
                f"custom_fields key {key!r} must be snake_case ASCII, at most 64 chars, "
                "and must not start with '_'"
            )
    size = custom_fields_size(value)
    if size > CUSTOM_FIELDS_MAX_BYTES:
        raise ValueError(f"custom_fields is {size} bytes, over the 32 KB limit")
    return value


def custom_fields_size(value: dict[str, Any]) -> int:
    """Size in bytes of custom_fields as sent on the wire (compact UTF-8 JSON)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


Money = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False),
    PlainSerializer(_json_number, return_type=Any, when_used="json"),
]
Name = Annotated[str, StringConstraints(max_length=100)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Source = Annotated[str, StringConstraints(max_length=50)]
Tag = Annotated[str, StringConstraints(max_length=50)]
Email = Annotated[str, AfterValidator(_check_email)]
Phone = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Stage = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
CustomFields = Annotated[dict[str, Any], AfterValidator(_check_custom_fields)]
Probability = Annotated[
    Decimal,
    Field(ge=0, le=100, allow_inf_nan=False),
    PlainSerializer(_json_number, return_type=Any, when_used="json"),
]


class _Body(BaseModel):
    """A request body: unknown fields are a bug on our side, so they are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    def to_json(self) -> dict[str, Any]:
        """The body as sent to the CRM: JSON types, unset and null fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class _Response(BaseModel):
    """A response body: the CRM may add fields, so unknown ones are kept, not refused."""

    model_config = ConfigDict(extra="allow")


# --- contacts (§2.2) -------------------------------------------------------


class Contact(_Body):
    """A contact as created by POST rest-api-proxy/contacts and as a bulk row."""

    first_name: Name | None = None
    last_name: Name | None = None
    phones: list[Phone] | None = None
    emails: list[Email] | None = None
    source: Source | None = None
    tags: list[Tag] | None = None
    assignee_id: UUID | None = None
    company_id: UUID | None = None
    description: Description | None = None
    opt_in_status: bool | None = None
    custom_fields: CustomFields | None = None


class ContactUpdate(Contact):
    """PATCH rest-api-proxy/contacts: any subset; `custom_fields` replaces the stored object."""


# --- deals (§3.2) ----------------------------------------------------------


class Product(_Response):
    """A line item; the document gives no schema beyond name, quantity and unit_price."""

    name: str | None = None
    sku: str | None = None
    quantity: Decimal | None = Field(default=None, ge=0)
    unit_price: Money | None = None


class _DealFields(_Body):
    value: Money | None = None
    currency: Currency | None = None
    stage: Stage | None = None
    pipeline_id: UUID | None = None
    description: Description | None = None
    expected_close_date: date | None = None
    probability: Probability | None = None
    source: Source | None = None
    tags: list[Tag] | None = None
    owner_id: UUID | None = None
    company_id: UUID | None = None
    custom_fields: CustomFields | None = None
    products: list[Product] | None = None


class Deal(_DealFields):
    """POST rest-api-proxy/deals: a deal linked to an existing contact."""

    title: Title
    contact_id: UUID


class DealUpdate(_DealFields):
    """PATCH rest-api-proxy/deals: any subset; `custom_fields` replaces the stored object."""

    title: Title | None = None
    contact_id: UUID | None = None


class BulkDeal(_DealFields):
    """A row of /create-deals-bulk: the contact is found by id, email or phone."""

    title: Title
    contact_id: UUID | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = None
    contact_first_name: Name | None = None
    contact_last_name: Name | None = None
    create_contact_if_missing: bool | None = None

    @model_validator(mode="after")
    def _needs_a_contact(self) -> BulkDeal:
        if not (self.contact_id or self.contact_email or self.contact_phone):
            raise ValueError("one of contact_id, contact_email or contact_phone is required")
        return self


class LeadDeal(_DealFields):
    """The deal half of a lead: its contact is the lead's own contact."""

    title: Title


class Lead(_Body):
    """POST /create-lead (and a row of /create-leads-bulk): a new contact and its deal."""

    contact: Contact
    deal: LeadDeal


# --- bulk requests (§2.3, §3.3) --------------------------------------------


class BulkContactsRequest(_Body):
    contacts: list[Contact] = Field(min_length=1, max_length=MAX_BULK_CONTACTS)
    skip_duplicates: bool = False
    default_source: Source | None = None
    default_tags: list[Tag] | None = None


class BulkDealsRequest(_Body):
    deals: list[BulkDeal] = Field(min_length=1, max_length=MAX_BULK_DEALS)
    default_pipeline_id: UUID | None = None
    default_stage: Stage | None = None
    default_currency: Currency | None = None
    skip_if_exists: bool = False


class BulkLeadsRequest(_Body):
    leads: list[Lead] = Field(min_length=1, max_length=MAX_BULK_LEADS)
    default_pipeline_id: UUID | None = None
    default_stage: Stage | None = None
    default_currency: Currency | None = None


class SearchContactsRequest(_Body):
    """POST /search-contacts: free text over names, emails and phones."""

    query: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    limit: int = Field(default=20, ge=1, le=100)


# --- responses -------------------------------------------------------------


class ContactRecord(_Response):
    id: str
    first_name: str | None = None
    last_name: str | None = None
    phones: list[str] | None = None
    emails: list[str] | None = None
    source: str | None = None
    tags: list[str] | None = None
    description: str | None = None
    opt_in_status: bool | None = None
    custom_fields: dict[str, Any] | None = None
    created_at: str | None = None


class DealRecord(_Response):
    id: str
    title: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    contact_id: str | None = None
    pipeline_id: str | None = None
    source: str | None = None
    tags: list[str] | None = None
    custom_fields: dict[str, Any] | None = None
    created_at: str | None = None


class ContactRowResult(_Response):
    index: int
    success: bool
    contact_id: str | None = None
    is_new: bool | None = None
    skipped: bool | None = None
    error: str | None = None


class ContactsSummary(_Response):
    total: int
    successful: int
    failed: int
    new_contacts: int
    updated_contacts: int


class BulkContactsResponse(_Response):
    success: bool
    summary: ContactsSummary
    results: list[ContactRowResult]


class DealRowResult(_Response):
    index: int
    success: bool
    deal_id: str | None = None
    contact_id: str | None = None
    is_new_contact: bool | None = None
    skipped: bool | None = None
    error: str | None = None


class DealsSummary(_Response):
    total: int
    successful: int
    failed: int
    new_deals: int
    skipped_existing: int
    new_contacts_created: int


class BulkDealsResponse(_Response):
    success: bool
    summary: DealsSummary
    results: list[DealRowResult]


class LeadResult(_Response):
    """The answer of /create-lead, and a row of /create-leads-bulk's results."""

    success: bool
    index: int | None = None
    contact_id: str | None = None
    deal_id: str | None = None
    error: str | None = None


class LeadsSummary(_Response):
    total: int
    successful: int
    failed: int


class BulkLeadsResponse(_Response):
    success: bool
    summary: LeadsSummary
    results: list[LeadResult]


class ErrorBody(_Response):
    """The error body of the CRM's own endpoints: `{"error": ..., "details": ...}`."""

    error: str
    details: str | None = None


class PostgrestError(_Response):
    """The error body of rest-api-proxy, as PostgREST answers."""

    code: str | None = None
    message: str
    details: str | None = None
    hint: str | None = None
