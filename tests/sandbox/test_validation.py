"""The CRM's phone normaliser, email rule and field limits (crm-api.md §2.2, §3.2, §5)."""

from __future__ import annotations

import pytest

from crm_sandbox.errors import ApiError
from crm_sandbox.validation import clean_contact, clean_deal, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+20 101 717 7777", "+201017177777"),
        ("201017177777", "+201017177777"),
        ("+201017177777", "+201017177777"),
        ("(020) 1017-177.777", "+0201017177777"),
        ("00201017177777", "+00201017177777"),
        ("12345678", "+12345678"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_phone_is_normalised_as_the_document_says(raw: str, stored: str) -> None:
    assert normalize_phone(raw) == stored


@pytest.mark.parametrize(
    "raw",
    ["abc", "", "+", "1234567", "+1234567", "+1234567890123456", "+20 101 x 7777", "20+1017177777",
     "+٢٠١٠١٧١٧٧٧٧", 201017177777],
)  # fmt: skip
def test_phone_is_rejected(raw: object) -> None:
    with pytest.raises(ApiError):
        normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("User@Example.COM", "user@example.com"), ("a.b+c@d.co", "a.b+c@d.co")],
)
def test_email_is_lowercased(raw: str, stored: str) -> None:
    assert normalize_email(raw) == stored


@pytest.mark.parametrize(
    "raw", ["plain", "a@b", "a@b.c", "a b@c.com", "a@b c.com", "@b.com", "a@@b.com", None]
)
def test_email_is_rejected(raw: object) -> None:
    with pytest.raises(ApiError):
        normalize_email(raw)


def test_contact_fields_are_checked_and_unknown_ones_left_out() -> None:
    cleaned = clean_contact({"first_name": "A", "phones": ["201017177777"], "nickname": "x"})
    assert cleaned == {"first_name": "A", "phones": ["+201017177777"]}


def test_custom_fields_keep_jsonb_key_order() -> None:
    cleaned = clean_contact({"custom_fields": {"zz": 1, "a": 2, "bb": 3}})
    assert list(cleaned["custom_fields"]) == ["a", "bb", "zz"]


def test_custom_fields_of_exactly_32_kb_are_accepted() -> None:
    overhead = len('{"k":""}')
    fields = {"k": "x" * (32 * 1024 - overhead)}
    assert clean_contact({"custom_fields": fields})["custom_fields"] == fields
    with pytest.raises(ApiError):
        clean_contact({"custom_fields": {"k": "x" * (32 * 1024 - overhead + 1)}})


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"title": None}, "title is required"),
        ({"title": "   "}, "title is required"),
        ({"value": True}, "value must be a number >= 0"),
        ({"probability": -1}, "probability must be a number between 0 and 100"),
        ({"currency": "usd"}, "currency must be a 3-letter ISO 4217 code"),
        ({"expected_close_date": "2026-5-15"}, "expected_close_date must be a date (YYYY-MM-DD)"),
        ({"owner_id": "u1"}, "owner_id must be a uuid"),
        ({"products": [1]}, "products must be an array of objects"),
        ({"tags": "vip"}, "tags must be an array"),
    ],
)
def test_deal_field_errors_name_the_field(fields: dict[str, object], error: str) -> None:
    with pytest.raises(ApiError) as raised:
        clean_deal(fields)
    assert raised.value.error == error


def test_deal_accepts_the_documented_example() -> None:
    cleaned = clean_deal(
        {
            "title": "Order #68297792",
            "value": 11523,
            "currency": "SAR",
            "stage": "qualified",
            "expected_close_date": "2026-05-15",
            "probability": 60,
            "tags": ["online-order"],
            "products": [{"name": "Sku1", "quantity": 2, "unit_price": 50}],
        }
    )
    assert cleaned["value"] == 11523
    assert cleaned["products"] == [{"name": "Sku1", "quantity": 2, "unit_price": 50}]
