"""Normalisation, rule by rule: messy source values in, values the CRM accepts out."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapter.crm.models import Contact, custom_fields_size
from adapter.crm.normalize import (
    ContactPoints,
    clean_text,
    currency_exponent,
    custom_field_key,
    json_safe,
    minor_to_major,
    money_amount,
    normalize_currency,
    normalize_custom_fields,
    normalize_description,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_source,
    normalize_stage,
    normalize_tags,
    normalize_title,
    parse_decimal,
    phone_region,
    split_contact_points,
    split_full_name,
    truncate_text,
)

# --- phones ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "default_region", "expected"),
    [
        ("+20 101 717 7777", None, None, "+201017177777"),
        ("201017177777", None, None, "+201017177777"),
        ("201017177777", None, "EG", "+201017177777"),
        ("201017177777", "SA", None, "+201017177777"),
        ("00201017177777", None, None, "+201017177777"),
        ("00201017177777", "US", None, "+201017177777"),
        ("00 20 101 717 7777", None, "EG", "+201017177777"),
        ("+00201017177777", None, None, "+201017177777"),
        ("01017177777", "EG", None, "+201017177777"),
        ("01017177777", None, "EG", "+201017177777"),
        ("01017177777", "eg", None, "+201017177777"),
        ("01017177777", "SA", "EG", "+201017177777"),
        ("0501234567", "SA", None, "+966501234567"),
        ("0501234567", None, "SA", "+966501234567"),
        ("+966 50 123 4567", None, None, "+966501234567"),
        ("+966 50 123 4567", "EG", "US", "+966501234567"),
        ("(050) 123-4567", "SA", None, "+966501234567"),
        ("050.123.4567", "SA", None, "+966501234567"),
        ("966501234567", "EG", None, "+966501234567"),
        ("tel:+201017177777", None, None, "+201017177777"),
        ("٠١٠١٧١٧٧٧٧٧", "EG", None, "+201017177777"),
        (" \t+201017177777\n", None, None, "+201017177777"),
        (201017177777, None, None, "+201017177777"),
        (1017177777, "EG", None, "+201017177777"),
        (201017177777.0, None, None, "+201017177777"),
        (Decimal("201017177777"), None, None, "+201017177777"),
        ("+1 650-253-0000 ext. 123", None, None, "+16502530000"),
        ("+1 650 253 0000 x12", "US", None, "+16502530000"),
        ("(650) 253-0000", "UK", "US", "+16502530000"),
        ("07400 123456", "UK", None, "+447400123456"),
    ],
)
def test_phone_becomes_e164(
    raw: object, region: object, default_region: object, expected: str
) -> None:
    assert normalize_phone(raw, region, default_region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("abc", "EG"),
        ("", "EG"),
        ("   ", "EG"),
        (None, "EG"),
        (True, "EG"),
        (0, "EG"),
        (-201017177777, None),
        (201017177777.5, None),
        (float("nan"), None),
        ("0501234567", "US"),  # a Saudi mobile read as American is no number
        ("01017177777", None),  # national without any region hint
        ("+0201017177777", None),
        ("+2010171", None),
        ("+683 7290", None),  # valid in Niue, but 7 digits: below E.164's 8 the CRM needs
        ("1" * 5000, "EG"),
        ("+20" + "1" * 200, None),
        ("+2O1O17177777x", None),
        ("12345", "EG"),
        (["+201017177777"], None),
        ({"number": "+201017177777"}, None),
        (object(), None),
    ],
)
def test_phone_that_cannot_be_valid_is_none(raw: object, region: object) -> None:
    assert normalize_phone(raw, region) is None


def test_phone_region_is_ignored_when_unknown() -> None:
    assert normalize_phone("01017177777", "Egypt", "EG") == "+201017177777"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("EG", "EG"), (" sa ", "SA"), ("uk", "GB"), ("XX", None), ("EGY", None), (20, None)],
)
def test_phone_region_is_a_region_phonenumbers_knows(raw: object, expected: str | None) -> None:
    assert phone_region(raw) == expected


# --- emails ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mahmoud@example.com", "mahmoud@example.com"),
        ("  Mahmoud@Example.COM ", "mahmoud@example.com"),
        ("mailto:noha@example.com", "noha@example.com"),
        ("\ufeffnoha@example.com", "noha@example.com"),
        ("no\u200bha@example.com", "noha@example.com"),
        ("ÜMIT@exämple.de", "ümit@exämple.de"),
        ("a+tag@sub.example.co", "a+tag@sub.example.co"),
    ],
)
def test_email_is_trimmed_and_lowercased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "not-an-email",
        "a@b.c",
        "a@@b.com",
        "a b@c.com",
        "a@b .com",
        "@example.com",
        "a@",
        "",
        None,
        42,
        ["a@b.com"],
        "a@b.com\x00x",
        "x" * 250 + "@example.com",
    ],
)
def test_email_that_the_crm_would_refuse_is_none(raw: object) -> None:
    assert normalize_email(raw) is None


# --- keeping what is invalid -----------------------------------------------


@pytest.mark.parametrize(
    ("emails", "phones", "expected"),
    [
        (
            ["Mahmoud@Example.com", "mahmoud@example.com"],
            ["+201017177777", "01017177777"],
            ContactPoints(["mahmoud@example.com"], ["+201017177777"], {}),
        ),
        (
            "noha@example.com",
            "abc",
            ContactPoints(["noha@example.com"], [], {"raw_phone": "abc"}),
        ),
        (
            ["bad", "worse", "bad"],
            ["abc", " 123 ", None, ""],
            ContactPoints([], [], {"raw_email": ["bad", "worse"], "raw_phone": ["abc", "123"]}),
        ),
        (None, 12345, ContactPoints([], [], {"raw_phone": "12345"})),
        (None, None, ContactPoints([], [], {})),
    ],
)
def test_contact_points_keep_invalid_values_as_raw_custom_fields(
    emails: object, phones: object, expected: ContactPoints
) -> None:
    assert split_contact_points(emails, phones, default_region="EG") == expected


def test_contact_points_use_the_record_region_first() -> None:
    points = split_contact_points(phones=["0501234567"], region="SA", default_region="EG")
    assert points.phones == ["+966501234567"]


def test_contact_points_raw_fields_pass_the_contract() -> None:
    points = split_contact_points(["bad"], ["abc"])
    Contact(custom_fields=normalize_custom_fields(points.custom_fields))


# --- stages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("qualified", "qualified"),
        ("QUALIFIED", "qualified"),
        ("  Won\n", "won"),
        ("closed_won", "closed_won"),
        ("closed-won", "closed-won"),
        ("Closed Won", None),
        ("", None),
        ("   ", None),
        ("s" * 65, None),
        (None, None),
        (3, None),
    ],
)
def test_stage_is_trimmed_and_lowercased(raw: object, expected: str | None) -> None:
    assert normalize_stage(raw) == expected


# --- money -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("usd", "USD"),
        (" sar ", "SAR"),
        ("EUR", "EUR"),
        ("US", None),
        ("USDT", None),
        ("U$D", None),
        ("", None),
        (None, None),
        (840, None),
        ("éur", None),
    ],
)
def test_currency_is_uppercased_and_must_be_three_letters(
    raw: object, expected: str | None
) -> None:
    assert normalize_currency(raw) == expected


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("USD", 2), ("SAR", 2), ("EGP", 2), ("EUR", 2), ("MGA", 2), ("XYZ", 2)]
    + [(code, 0) for code in ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"]]
    + [(code, 0) for code in ["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"]]
    + [(code, 3) for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]]
    + [("CLF", 4), ("UYW", 4), ("jpy", 0)],
)
def test_currency_exponent_follows_iso_4217(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "overrides", "expected"),
    [
        (1999, "usd", None, "19.99"),
        (1999, "USD", None, "19.99"),
        (1050, "SAR", None, "10.50"),
        (5, "USD", None, "0.05"),
        (0, "USD", None, "0.00"),
        (1999, "JPY", None, "1999"),
        (1999, "KWD", None, "1.999"),
        (12345, "CLF", None, "1.2345"),
        (150000, "ISK", {"ISK": 2}, "1500.00"),
        (150000, "isk", {"isk": 2}, "1500.00"),
        (500000, "UGX", {"UGX": 2}, "5000.00"),
        (150000, "ISK", None, "150000"),
        ("1999", "USD", None, "19.99"),
        (1999.0, "USD", None, "19.99"),
        (Decimal("1999"), "USD", None, "19.99"),
        (-500, "USD", None, "-5.00"),
        (10**30 + 1, "USD", None, "10000000000000000000000000000.01"),
    ],
)
def test_minor_units_become_exact_major_units(
    amount: object, currency: str, overrides: Mapping[str, int] | None, expected: str
) -> None:
    result = minor_to_major(amount, currency, overrides)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (19.99, "USD"),
        ("19.99", "USD"),
        ("abc", "USD"),
        (None, "USD"),
        (True, "USD"),
        (1999, None),
        (1999, "US"),
        (1999, "dollars"),
        (float("inf"), "USD"),
    ],
)
def test_minor_units_that_are_not_whole_or_have_no_currency_are_none(
    amount: object, currency: object
) -> None:
    assert minor_to_major(amount, currency) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("199.99", "199.99"),
        (" 199.99 ", "199.99"),
        ("0.10", "0.10"),
        ("-5", "-5"),
        ("+5", "5"),
        (".5", "0.5"),
        ("5.", "5"),
        ("1e3", "1000"),
        ("1.5E-2", "0.015"),
        (42, "42"),
        (0.1, "0.1"),
        (1e16, "10000000000000000"),
        (Decimal("12.30"), "12.30"),
    ],
)
def test_decimal_strings_parse_exactly(raw: object, expected: str) -> None:
    assert parse_decimal(raw) == Decimal(expected)
    assert str(parse_decimal(raw)) == str(Decimal(expected)).replace("E+3", "000")


@pytest.mark.parametrize(
    "raw",
    [
        *["", "abc", "1,234.50", "12.3.4", "$10", "10 USD", "NaN", "Infinity", "0x10", "١٢٣"],
        *["1e99999", None, True, float("nan"), float("inf"), Decimal("NaN"), 10**500, [1], {}],
    ],
)
def test_decimal_garbage_is_none(raw: object) -> None:
    assert parse_decimal(raw) is None


def test_decimal_from_float_is_its_shortest_repr_not_its_binary_value() -> None:
    assert parse_decimal(0.1) == Decimal("0.1") != Decimal(0.1)  # noqa: RUF032


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("199.99", Decimal("199.99")),
        (0, Decimal(0)),
        ("-0.00", Decimal(0)),
        (11523, Decimal(11523)),
        ("-1", None),
        ("1e15", None),
        ("1234567890123.456", None),
        ("abc", None),
    ],
)
def test_money_amount_is_what_the_contract_accepts(raw: object, expected: Decimal | None) -> None:
    assert money_amount(raw) == expected


# --- custom fields ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("order_id", "order_id"),
        ("Order ID", "order_id"),
        ("order-id", "order_id"),
        ("  Order   ID  ", "order_id"),
        ("orderId", "order_id"),
        ("OrderID", "order_id"),
        ("HTTPServer", "http_server"),
        ("_x", "x"),
        ("__private__", "private"),
        ("Prénom", "prenom"),
        ("Straße", "strasse"),
        ("Ærø", "aero"),
        ("1st_line", "1st_line"),
        ("a.b.c", "a_b_c"),
        (123, "123"),
        (None, "none"),
    ],
)
def test_custom_field_key_is_made_valid(raw: object, expected: str) -> None:
    assert custom_field_key(raw) == expected


@pytest.mark.parametrize("raw", ["", "___", "Имя", "名前", "🙂"])
def test_custom_field_key_without_ascii_gets_a_stable_hashed_name(raw: str) -> None:
    key = custom_field_key(raw)
    assert key.startswith("field_")
    assert key == custom_field_key(raw)
    Contact(custom_fields={key: 1})


def test_different_unusable_keys_get_different_names() -> None:
    assert custom_field_key("Имя") != custom_field_key("名前")


def test_long_custom_field_key_is_shortened_with_a_hash() -> None:
    first, second = custom_field_key("a" * 70 + "1"), custom_field_key("a" * 70 + "2")
    assert len(first) == 64
    assert first.startswith("a" * 55)
    assert first != second


def test_colliding_keys_are_all_kept() -> None:
    fields = normalize_custom_fields({"Order ID": 1, "order_id": 2, "order-id": 3})
    assert fields["order_id"] == 2
    assert sorted(fields.values()) == [1, 2, 3]
    Contact(custom_fields=fields)


def test_long_colliding_keys_are_all_kept() -> None:
    fields = normalize_custom_fields({"A" * 70: 1, "a" * 70: 2, "a" * 71: 3})
    assert sorted(fields.values()) == [1, 2, 3]
    Contact(custom_fields=fields)


class _Broken:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        (1.5, 1.5),
        ("text", "text"),
        ("nul\x00here", "nulhere"),
        ("\ud800", "?"),
        (Decimal("1200"), 1200),
        (Decimal("10.50"), 10.5),
        (Decimal("0.12345678901234567890"), "0.12345678901234567890"),
        (Decimal("NaN"), "NaN"),
        (float("inf"), "inf"),
        (datetime(2026, 4, 25, 10, 30, tzinfo=UTC), "2026-04-25T10:30:00+00:00"),
        (date(2026, 4, 25), "2026-04-25"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ((1, "a"), [1, "a"]),
        (b"bytes", "bytes"),
        (UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({"City": Decimal("1.5"), 2: "two"}, {"City": 1.5, "2": "two"}),
        ({1: "a", "1": "b"}, {"1": "a", "1_2": "b"}),
        (_Broken(), "<_Broken>"),
    ],
)
def test_json_safe_values(raw: object, expected: Any) -> None:
    assert json_safe(raw) == expected


def test_json_safe_turns_integers_too_large_for_json_into_text() -> None:
    assert isinstance(json_safe(10**400), str)


def test_json_safe_breaks_cycles() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert json_safe({"a": loop}) == {"a": ["<cycle>"]}


def test_json_safe_flattens_very_deep_nesting_into_text() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    fields = normalize_custom_fields({"deep": deep})
    Contact(custom_fields=fields)


class _ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("cannot iterate")

    def __len__(self) -> int:
        return 1


def test_json_safe_survives_a_broken_mapping() -> None:
    assert isinstance(json_safe({"a": _ExplodingMapping()})["a"], str)


def test_broken_top_level_mapping_gives_no_custom_fields() -> None:
    assert normalize_custom_fields(_ExplodingMapping()) == {}


@pytest.mark.parametrize("raw", [None, "a=1", ["a", 1], 5])
def test_custom_fields_that_are_not_an_object_give_none(raw: object) -> None:
    assert normalize_custom_fields(raw) == {}


def test_custom_fields_example_of_the_document_is_unchanged() -> None:
    fields = {
        "shopify_order_id": "68297792",
        "payment_method": "mada",
        "is_gift": True,
        "delivered_at": "2026-04-25",
        "shipping_address": {"city": "Riyadh", "zip": "12345"},
    }
    assert normalize_custom_fields(fields) == fields


def _oversized() -> dict[str, Any]:
    return {
        "external_id": "ext-1",
        "small": "s",
        "medium": "m" * 10_000,
        "large": "l" * 24_000,
        "largest": "L" * 25_000,
    }


def test_oversized_custom_fields_fit_in_32_kb() -> None:
    fields = normalize_custom_fields(_oversized())
    assert custom_fields_size(fields) <= 32 * 1024
    Contact(custom_fields=fields)


def test_oversized_custom_fields_drop_the_largest_values_first() -> None:
    fields = normalize_custom_fields(_oversized())
    assert fields["dropped_fields"] == ["largest", "large"]
    assert fields["medium"] == "m" * 10_000
    assert fields["small"] == "s"


def test_oversized_custom_fields_never_drop_external_id() -> None:
    fields = _oversized()
    fields["external_id"] = "e" * 20_000
    fields["medium"] = "m" * 3_000
    result = normalize_custom_fields(fields)
    assert result["external_id"] == "e" * 20_000
    assert "external_id" not in result["dropped_fields"]


def test_external_id_alone_over_32_kb_is_shortened_not_dropped() -> None:
    result = normalize_custom_fields({"external_id": "e" * 40_000, "other": 1})
    assert result["external_id"].startswith("eeee")
    assert custom_fields_size(result) <= 32 * 1024


def test_many_dropped_fields_are_summarised() -> None:
    result = normalize_custom_fields({f"key_{i}": "v" * 50 for i in range(2000)})
    assert custom_fields_size(result) <= 32 * 1024
    assert result["dropped_fields"][-1].endswith("more")
    Contact(custom_fields=result)


def test_a_source_dropped_fields_key_is_dropped_before_ours_is_written() -> None:
    fields = {"dropped_fields": ["mine"], "big": "x" * 40_000}
    assert normalize_custom_fields(fields)["dropped_fields"] == ["dropped_fields", "big"]


def test_custom_fields_limit_can_be_lowered() -> None:
    result = normalize_custom_fields({"a": "x" * 100, "b": "y"}, max_bytes=64)
    assert custom_fields_size(result) <= 64
    assert result["dropped_fields"] == ["a"]


def test_normalised_custom_fields_are_plain_json() -> None:
    fields = normalize_custom_fields({"When": datetime(2026, 1, 1), "Total": Decimal("9.90")})
    assert json.loads(json.dumps(fields)) == {"when": "2026-01-01T00:00:00", "total": 9.9}


# --- text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mahmoud", "Mahmoud"),
        ("  Mahmoud \n Ali ", "Mahmoud Ali"),
        ("x" * 150, "x" * 100),
        ("", None),
        ("   ", None),
        (None, None),
        (42, None),
        ("Ma\x00hmoud", "Mahmoud"),
        ("محمود", "محمود"),
    ],
)
def test_name_is_one_trimmed_line_of_at_most_100(raw: object, expected: str | None) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mahmoud Ali", ("Mahmoud", "Ali")),
        ("  Mary   Ann  Smith ", ("Mary", "Ann Smith")),
        ("Cher", ("Cher", None)),
        ("", (None, None)),
        (None, (None, None)),
        ("x" * 120 + " " + "y" * 120, ("x" * 100, "y" * 100)),
    ],
)
def test_full_name_splits_into_first_word_and_the_rest(
    raw: object, expected: tuple[str | None, str | None]
) -> None:
    assert split_full_name(raw) == expected


@pytest.mark.parametrize(
    ("function", "limit"),
    [(normalize_title, 200), (normalize_source, 50), (normalize_name, 100)],
)
def test_single_line_fields_are_truncated_to_their_limit(function: Any, limit: int) -> None:
    assert function("é" * (limit + 10)) == "é" * limit
    assert function("a\nb") == "a b"


def test_title_is_none_when_empty() -> None:
    assert normalize_title(" \n ") is None


def test_description_keeps_its_line_breaks_and_stops_at_5000() -> None:
    assert normalize_description(" line 1\r\nline 2 ") == "line 1\nline 2"
    assert normalize_description("d" * 6000) == "d" * 5000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["vip", "newsletter"], ["vip", "newsletter"]),
        ("vip, newsletter,  ,vip", ["vip", "newsletter"]),
        ([" vip ", "", "vip", None, 2026], ["vip", "2026"]),
        (["t" * 60], ["t" * 50]),
        (["t" * 60, "t" * 55], ["t" * 50]),
        ({"b", "a"}, ["a", "b"]),
        (None, []),
        (5, []),
    ],
)
def test_tags_are_trimmed_deduplicated_and_at_most_50(raw: object, expected: list[str]) -> None:
    assert normalize_tags(raw) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 3, "abc"),
        ("abc", 3, "abc"),
        ("ab" + "e\u0301" * 3, 4, "abe\u0301"),
        ("ab" + "e\u0301" * 3, 3, "ab"),  # the accent is not split from its letter
        ("a👍🏽b", 2, "a"),  # nor the skin tone from its emoji
        ("a👨\u200d👩\u200d👧", 3, "a👨"),  # nor a joiner left dangling
        ("ab   cd", 4, "ab"),
        ("", 5, ""),
    ],
)
def test_truncation_cuts_between_characters(text: str, limit: int, expected: str) -> None:
    assert truncate_text(text, limit) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("a\x00b\x07c", "abc"),
        ("tab\tkept\n", "tab\tkept\n"),
        ("\udc80x", "?x"),
        (None, None),
        (b"bytes", None),
    ],
)
def test_clean_text_removes_what_the_crm_cannot_store(raw: object, expected: str | None) -> None:
    assert clean_text(raw) == expected
