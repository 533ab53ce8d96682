from __future__ import annotations

import pytest

from adapter.crm.commands import UpsertDeal
from adapter.mapping import MappingConfig, MappingError
from adapter.mapping._person import Person
from tests.mapping.support import mapped, shopify


@pytest.mark.parametrize(
    ("raw", "region", "default", "e164"),
    [
        ("+201017177777", None, "EG", "+201017177777"),
        ("+20 101 717 7777", None, "SA", "+201017177777"),
        ("+966501234567", None, "EG", "+966501234567"),
        ("+966 50 123 4567", "EG", "EG", "+966501234567"),
        ("01017177777", "EG", "SA", "+201017177777"),
        ("010-1717-7777", None, "EG", "+201017177777"),
        ("0501234567", "SA", "EG", "+966501234567"),
        ("050 123 4567", None, "SA", "+966501234567"),
        ("00201017177777", "SA", "SA", "+201017177777"),
        ("966501234567", None, "EG", "+966501234567"),
        ("01017177777", "SA", "EG", "+201017177777"),  # wrong hint: the default still reads it
        ("01017177777", "SA", "SA", None),
        ("555-555-SHIP", "US", "EG", None),
        ("abc", None, "EG", None),
    ],
)
def test_phone_is_normalised_with_its_region_hint(
    raw: str, region: str | None, default: str, e164: str | None
) -> None:
    person = Person(default_region=default)
    person.add_phone(raw, region)
    assert person.phones == ([e164] if e164 else [])
    assert person.raw_phones == ([] if e164 else [raw])


@pytest.mark.parametrize(
    ("phone", "country", "default", "e164"),
    [
        ("01017177777", "EG", "SA", "+201017177777"),
        ("0501234567", "SA", "EG", "+966501234567"),
        ("0501234567", None, "SA", "+966501234567"),
        ("01017177777", None, "EG", "+201017177777"),
    ],
)
def test_order_phone_is_read_in_the_shipping_country_else_the_default_region(
    phone: str, country: str | None, default: str, e164: str
) -> None:
    payload = {"id": 1, "name": "#1", "phone": phone, "shipping_address": {"country_code": country}}
    (command,) = mapped(
        shopify("orders/create", payload), MappingConfig(default_phone_region=default)
    )
    assert isinstance(command, UpsertDeal)
    assert command.deal.contact_phone == e164


def test_emails_are_lowercased_and_deduplicated() -> None:
    person = Person(default_region="EG")
    for email in ("Ali@Example.com", " ali@example.com ", "ali2@example.com"):
        person.add_email(email)
    assert person.emails == ["ali@example.com", "ali2@example.com"]


def test_invalid_values_are_kept_as_raw_fields() -> None:
    person = Person(default_region="EG")
    person.add_email("ali@example")
    person.add_phone("123")
    person.add_phone("456")
    assert person.raw_fields() == {"raw_email": "ali@example", "raw_phone": ["123", "456"]}


def test_names_come_from_the_first_place_that_has_any() -> None:
    person = Person(default_region="EG")
    person.add_names(None, None)
    person.add_full_name("Sara Ali Hassan")
    person.add_names("Other", "Name")
    assert (person.first_name, person.last_name) == ("Sara", "Ali Hassan")


def test_deal_contact_needs_an_email_or_phone() -> None:
    with pytest.raises(MappingError, match="Shopify order has no valid email or phone"):
        Person(default_region="EG").deal_contact("Shopify order")


def test_primary_only_contact_keeps_one_email_and_one_phone() -> None:
    person = Person(default_region="EG")
    for email in ("a@example.com", "b@example.com"):
        person.add_email(email)
    for phone in ("+201017177777", "+966501234567"):
        person.add_phone(phone)
    contact = person.contact(primary_only=True)
    assert (contact.emails, contact.phones) == (["a@example.com"], ["+201017177777"])
