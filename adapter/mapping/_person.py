"""The person behind a payload: names, emails and phones gathered from several places.

Sources scatter contact details (order, customer, billing and shipping address);
mappers offer every candidate in order of trust and get one normalised person.
Values that fail the CRM's rules are not dropped silently: they are kept as
`raw_email` / `raw_phone` custom fields for a human to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.crm.models import Contact
from adapter.crm.normalize import (
    RAW_EMAIL_KEY,
    RAW_PHONE_KEY,
    normalize_email,
    normalize_name,
    normalize_phone,
    split_full_name,
)
from adapter.mapping import _fields as f
from adapter.mapping.errors import MappingError


@dataclass
class Person:
    default_region: str
    first_name: str | None = None
    last_name: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    raw_emails: list[str] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)

    def add_email(self, value: Any) -> None:
        raw = f.text(value)
        if raw is None:
            return
        email = normalize_email(raw)
        if email is None:
            _append(self.raw_emails, raw[:320])
        else:
            _append(self.emails, email)

    def add_phone(self, value: Any, region: Any = None) -> None:
        """A phone number, local ones read in `region` (a country code), else the default."""
        raw = f.text(value)
        if raw is None:
            return
        phone = normalize_phone(raw, region, self.default_region)
        if phone is None:
            _append(self.raw_phones, raw[:100])
        else:
            _append(self.phones, phone)

    def add_names(self, first: Any, last: Any) -> None:
        """Names from the first place that has any; later places do not mix in."""
        if self.first_name or self.last_name:
            return
        self.first_name = normalize_name(first)
        self.last_name = normalize_name(last)

    def add_full_name(self, value: Any) -> None:
        self.add_names(*split_full_name(value))

    @property
    def reachable(self) -> bool:
        return bool(self.emails or self.phones)

    def raw_fields(self) -> dict[str, Any]:
        return {
            RAW_EMAIL_KEY: _one_or_all(self.raw_emails),
            RAW_PHONE_KEY: _one_or_all(self.raw_phones),
        }

    def display_name(self) -> str | None:
        full = " ".join(n for n in (self.first_name, self.last_name) if n)
        if full:
            return full
        if self.emails:
            return self.emails[0]
        return self.phones[0] if self.phones else None

    def deal_contact(self, what: str) -> dict[str, Any]:
        """The contact fields of a bulk deal row; MappingError when nothing identifies them."""
        if not self.reachable:
            raise MappingError(f"{what} has no valid email or phone for its contact")
        return {
            "contact_email": self.emails[0] if self.emails else None,
            "contact_phone": self.phones[0] if self.phones else None,
            "contact_first_name": self.first_name,
            "contact_last_name": self.last_name,
            "create_contact_if_missing": True,
        }

    def contact(self, *, primary_only: bool = False, **fields: Any) -> Contact:
        """The contact; `primary_only` keeps one email and one phone, for payloads such as
        orders whose other addresses may belong to someone else (a gift's recipient)."""
        keep = 1 if primary_only else None
        return Contact(
            first_name=self.first_name,
            last_name=self.last_name,
            emails=self.emails[:keep] or None,
            phones=self.phones[:keep] or None,
            **fields,
        )


def _append(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _one_or_all(values: list[str]) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else values
