"""The CRM's own field rules (crm-api.md §2.2, §3.2, §4, §5), with its normalisers.

Every function here raises `ApiError(400, ...)`: the CRM answers `{"error": ...}`
for a payload it refuses, on rest-api-proxy as on its other functions. Messages name
the field, never echo the value: clients log them, and values are personal data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from crm_sandbox.errors import ApiError, bad_request
from crm_sandbox.postgrest import jsonb

EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]{2,}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"\+?[0-9]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
CUSTOM_FIELDS_MAX_BYTES = 32 * 1024

CONTACT_FIELDS = (
    "first_name", "last_name", "phones", "emails", "source", "tags", "assignee_id",
    "company_id", "description", "opt_in_status", "custom_fields",
)  # fmt: skip
DEAL_FIELDS = (
    "title", "value", "currency", "stage", "pipeline_id", "contact_id", "description",
    "expected_close_date", "probability", "source", "tags", "owner_id", "company_id",
    "custom_fields", "products",
)  # fmt: skip


def normalize_phone(raw: Any, field: str = "phone") -> str:
    """Strip spaces, dashes, parentheses and dots; prepend + to 8+ bare digits; 8-15 digits.

    A 00 international prefix is not rewritten: "00201017177777" becomes "+00201017177777",
    as the document warns.
    """
    if not isinstance(raw, str):
        raise bad_request(f"{field} must be a string")
    phone = _PHONE_NOISE.sub("", raw)
    if not _PHONE.fullmatch(phone):
        raise bad_request(f"{field} is not a valid phone number")
    digits = phone.removeprefix("+")
    if not 8 <= len(digits) <= 15:
        raise bad_request(f"{field} is not a valid phone number (8-15 digits)")
    return phone if phone.startswith("+") else "+" + phone


def normalize_email(raw: Any, field: str = "email") -> str:
    if not isinstance(raw, str) or not EMAIL.match(raw):
        raise bad_request(f"{field} is not a valid email address")
    return raw.lower()


def text(data: Mapping[str, Any], field: str, limit: int) -> str | None:
    value = data[field]
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string")
    if len(value) > limit:
        raise bad_request(f"{field} must be at most {limit} characters")
    return value


def uuid_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else _not_uuid(field)
    except ValueError:
        return _not_uuid(field)


def _not_uuid(field: str) -> str:
    raise bad_request(f"{field} must be a uuid")


def _strings(data: Mapping[str, Any], field: str) -> list[Any] | None:
    value = data[field]
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request(f"{field} must be an array")
    return value


def tags(data: Mapping[str, Any], field: str = "tags") -> list[str] | None:
    values = _strings(data, field)
    if values is None:
        return None
    for i, tag in enumerate(values):
        if not isinstance(tag, str) or len(tag) > 50:
            raise bad_request(f"{field}[{i}] must be a string of at most 50 characters")
    return values


def custom_fields(value: Any, field: str = "custom_fields") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be a JSON object")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > CUSTOM_FIELDS_MAX_BYTES:
        raise bad_request(f"{field} must be at most 32 KB")
    return dict(jsonb.canonical(value))


def number(value: Any, field: str, low: float, high: float | None = None) -> int | float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if not ok or value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise bad_request(f"{field} must be a number {bound}")
    checked: int | float = value
    return checked


def clean_contact(data: Mapping[str, Any]) -> dict[str, Any]:
    """The contact fields present in data, checked and normalised."""
    out: dict[str, Any] = {}
    for field in CONTACT_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if field in ("first_name", "last_name"):
            out[field] = text(data, field, 100)
        elif field == "source":
            out[field] = text(data, field, 50)
        elif field == "description":
            out[field] = text(data, field, 5000)
        elif field == "phones":
            phones = _strings(data, field)
            out[field] = None if phones is None else [
                normalize_phone(p, f"phones[{i}]") for i, p in enumerate(phones)
            ]  # fmt: skip
        elif field == "emails":
            emails = _strings(data, field)
            out[field] = None if emails is None else [
                normalize_email(e, f"emails[{i}]") for i, e in enumerate(emails)
            ]  # fmt: skip
        elif field == "tags":
            out[field] = tags(data)
        elif field in ("assignee_id", "company_id"):
            out[field] = uuid_text(value, field)
        elif field == "opt_in_status":
            if value is not None and not isinstance(value, bool):
                raise bad_request("opt_in_status must be a boolean")
            out[field] = value
        elif field == "custom_fields":
            out[field] = custom_fields(value)
    return out


def clean_deal(data: Mapping[str, Any]) -> dict[str, Any]:
    """The deal fields present in data, checked; stage, pipeline and contact are checked
    against the organisation later, where the store is at hand."""
    out: dict[str, Any] = {}
    for field in DEAL_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if field == "title":
            out[field] = title(value)
        elif field == "value":
            out[field] = number(value, field, 0)
        elif field == "probability":
            out[field] = number(value, field, 0, 100)
        elif field == "currency":
            out[field] = currency(value)
        elif field == "stage":
            if value is not None and (not isinstance(value, str) or not value):
                raise bad_request("stage must be a non-empty string")
            out[field] = value
        elif field in ("pipeline_id", "contact_id", "owner_id", "company_id"):
            out[field] = uuid_text(value, field)
        elif field == "description":
            out[field] = text(data, field, 5000)
        elif field == "source":
            out[field] = text(data, field, 50)
        elif field == "tags":
            out[field] = tags(data)
        elif field == "expected_close_date":
            out[field] = close_date(value)
        elif field == "custom_fields":
            out[field] = custom_fields(value)
        elif field == "products":
            if value is not None and not (
                isinstance(value, list) and all(isinstance(p, dict) for p in value)
            ):
                raise bad_request("products must be an array of objects")
            out[field] = None if value is None else jsonb.canonical(value)
    return out


def title(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ApiError(400, "title is required")
    if not isinstance(value, str):
        raise bad_request("title must be a string")
    if len(value) > 200:
        raise bad_request("title must be at most 200 characters")
    return value


def currency(value: Any, field: str = "currency") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise bad_request(f"{field} must be a 3-letter ISO 4217 code")
    return value


def close_date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise bad_request("expected_close_date must be a date (YYYY-MM-DD)")
