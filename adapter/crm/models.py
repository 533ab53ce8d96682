"""The CRM contract: request and response bodies of the Contacts & Deals API.

Every validation rule here comes from the CRM's own document (crm-api.md §2.2,
§3.2, §4, §5). Where the CRM itself is lenient but the result is broken
(uppercase stages, `+00…` phones), the contract is strict, so that nothing we
send can be silently mangled.

Money is `Decimal` end to end. Request bodies go on the wire through `dumps()`,
which writes every Decimal as its exact decimal text. `to_json()` (and
`model_dump_json()`) give plain JSON types for queues and logs: amounts become
int or float, which is exact because the contract allows at most 15 significant
digits, the precision a double (and so the CRM's own JavaScript) holds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

EMAIL_PATTERN = r"^[^\s@]+@[^\s@]+\.[^\s@]{2,}$"
# The document asks for "+ and 8-15 digits"; a leading zero after + is never E.164.
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"
CUSTOM_FIELD_KEY_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
STAGE_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
CUSTOM_FIELDS_MAX_BYTES = 32 * 1024
CUSTOM_FIELDS_MAX_DEPTH = 32
MAX_BULK_CONTACTS = 500
MAX_BULK_DEALS = 100
MAX_BULK_LEADS = 100
NAME_MAX = 100
TITLE_MAX = 200
DESCRIPTION_MAX = 5000
SOURCE_MAX = 50
TAG_MAX = 50
STAGE_MAX = 64
# Not in the document: the CRM parses JSON as JavaScript numbers (doubles), which hold
# 15 significant digits exactly; an amount beyond that is a data error, not a sale.
MONEY_MAX_DIGITS = 15
MONEY_LIMIT = Decimal(10) ** 15

_EMAIL_RE = re.compile(EMAIL_PATTERN)
_KEY_RE = re.compile(CUSTOM_FIELD_KEY_PATTERN)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# JavaScript's \s (the CRM's regex) also matches U+FEFF, Python's does not.
_JS_ONLY_SPACE = "\ufeff"


# --- numbers ---------------------------------------------------------------


def significant_digits(value: Decimal) -> int:
    """How many significant digits a finite Decimal has (trailing zeros do not count)."""
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    return max(len(digits), 1)


def decimal_to_number(value: Decimal) -> int | float:
    """A Decimal of at most 15 significant digits as an exactly equal int or float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _check_money_digits(value: Decimal) -> Decimal:
    if significant_digits(value) > MONEY_MAX_DIGITS:
        raise ValueError(f"at most {MONEY_MAX_DIGITS} significant digits")
    return value


_Number = PlainSerializer(decimal_to_number, return_type=Any, when_used="json")

Money = Annotated[
    Decimal,
    Field(ge=0, lt=MONEY_LIMIT, allow_inf_nan=False),
    AfterValidator(_check_money_digits),
    _Number,
]
Probability = Annotated[
    Decimal,
    Field(ge=0, le=100, allow_inf_nan=False),
    AfterValidator(_check_money_digits),
    _Number,
]


# --- text ------------------------------------------------------------------


def _unstorable(text: str) -> str | None:
    """Why the CRM's Postgres cannot store this text, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None


def _check_storable(value: Any) -> Any:
    """Strings anywhere in a field must be storable text (NUL and lone surrogates are not)."""
    if isinstance(value, str):
        reason = _unstorable(value)
        if reason:
            raise ValueError(reason)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item)
    return value


def _check_email(value: str) -> str:
    if not _EMAIL_RE.fullmatch(value) or _JS_ONLY_SPACE in value:
        raise ValueError("not a valid email address")
    if value != value.lower():
        raise ValueError("email must be lowercase")
    return value


Name = Annotated[str, StringConstraints(max_length=NAME_MAX)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)]
Source = Annotated[str, StringConstraints(max_length=SOURCE_MAX)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=TAG_MAX)]
Email = Annotated[str, AfterValidator(_check_email)]
Phone = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN)]
Stage = Annotated[str, StringConstraints(pattern=STAGE_PATTERN, max_length=STAGE_MAX)]


# --- dates -----------------------------------------------------------------


def _parse_iso_date(value: Any) -> date:
    # datetime is a subclass of date; a timestamp is not a close date.
    if isinstance(value, datetime):
        raise ValueError("must be a date (YYYY-MM-DD), not a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
    raise ValueError("must be a date in YYYY-MM-DD format")


IsoDate = Annotated[
    date,
    PlainValidator(_parse_iso_date),
    PlainSerializer(date.isoformat, return_type=str, when_used="json"),
]


# --- custom fields (§4) ----------------------------------------------------


def _json_value(value: Any, path: str, depth: int) -> Any:
    """The value as plain JSON types (Decimals become exact numbers), or ValueError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        reason = _unstorable(value)
        if reason:
            raise ValueError(f"{path} {reason}")
        return value
    if isinstance(value, int):
        if value.bit_length() > 1000:
            raise ValueError(f"{path} is an integer too large for JSON")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value}, which JSON cannot carry")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite() or significant_digits(value) > MONEY_MAX_DIGITS:
            raise ValueError(f"{path} is a Decimal a JSON number cannot carry exactly")
        if abs(value.adjusted()) > 300:
            raise ValueError(f"{path} is out of the range of a JSON number")
        return decimal_to_number(value)
    if depth >= CUSTOM_FIELDS_MAX_DEPTH:
        raise ValueError(f"{path} is nested deeper than {CUSTOM_FIELDS_MAX_DEPTH} levels")
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or _unstorable(key):
                raise ValueError(f"{path} has a key {key!r} that is not storable text")
            out[key] = _json_value(item, f"{path}.{key}", depth + 1)
        return out
    raise ValueError(f"{path} is a {type(value).__name__}, which is not JSON")


def _check_custom_fields(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not _KEY_RE.fullmatch(key):
            raise ValueError(
                f"custom_fields key {key!r} must be snake_case ASCII, at most 64 chars, "
                "and must not start with '_'"
            )
    checked = {key: _json_value(item, key, 1) for key, item in value.items()}
    size = custom_fields_size(checked)
    if size > CUSTOM_FIELDS_MAX_BYTES:
        raise ValueError(f"custom_fields is {size} bytes, over the 32 KB limit")
    return checked


def custom_fields_size(value: Mapping[str, Any]) -> int:
    """Size in bytes of custom_fields as sent on the wire (compact UTF-8 JSON)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "replace"))


CustomFields = Annotated[dict[str, Any], AfterValidator(_check_custom_fields)]


# --- the wire --------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """A finite Decimal as an exact JSON number literal, never through binary float."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


def _encode(value: Any) -> str:
    if type(value) is str:
        # what json.dumps(ensure_ascii=False) does for a str, without its per-call setup
        return encode_basestring(value)
    if isinstance(value, BaseModel):
        return _encode(value.model_dump(exclude_none=True))
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    if isinstance(value, UUID):
        return f'"{value}"'
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        members = (
            f"{encode_basestring(str(key))}:{_encode(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def dumps(body: Any) -> bytes:
    """The exact UTF-8 JSON bytes of a request body (a model, or dicts/lists of them)."""
    return _encode(body).encode("utf-8")


# --- bodies ----------------------------------------------------------------


class _Body(BaseModel):
    """A request body: unknown fields are a bug on our side, so they are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_storable(value)

    def to_json(self) -> dict[str, Any]:
        """The body as plain JSON types (amounts as exact int/float), null fields left out."""
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


class Product(_Body):
    """A line item; the document gives no schema beyond name, quantity and unit_price,
    so other fields are let through."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    sku: str | None = None
    quantity: Annotated[Decimal, Field(ge=0, allow_inf_nan=False), _Number] | None = None
    unit_price: Money | None = None


class _DealFields(_Body):
    value: Money | None = None
    currency: Currency | None = None
    stage: Stage | None = None
    pipeline_id: UUID | None = None
    description: Description | None = None
    expected_close_date: IsoDate | None = None
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
    contact_email: Email | None = None
    contact_phone: Phone | None = None
    contact_first_name: Name | None = None
    contact_last_name: Name | None = None
    create_contact_if_missing: bool | None = None
    # Declared last and always validated, so that a row without any usable contact is
    # reported at `contact_id`, the field the document marks as required (next to the
    # error of an invalid contact_email or contact_phone, when that is the reason).
    contact_id: UUID | None = Field(default=None, validate_default=True)

    @field_validator("contact_id")
    @classmethod
    def _needs_a_contact(cls, value: UUID | None, info: ValidationInfo) -> UUID | None:
        if value is None and not (info.data.get("contact_email") or info.data.get("contact_phone")):
            raise ValueError("a valid contact_id, contact_email or contact_phone is required")
        return value


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
    # The document shows a string; a server error may carry any JSON here.
    details: Any = None


class PostgrestError(_Response):
    """The error body of rest-api-proxy, as PostgREST answers."""

    code: str | None = None
    message: str
    details: str | None = None
    hint: str | None = None
