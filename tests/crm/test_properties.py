"""Properties: normalisation never raises, and what it returns the contract accepts.

Example counts come from the HYPOTHESIS_PROFILE (tests/hypothesis_profiles.py).
"""

from __future__ import annotations

import json
import string
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.crm.models import (
    CUSTOM_FIELDS_MAX_BYTES,
    BulkDeal,
    Contact,
    Deal,
    Lead,
    LeadDeal,
    custom_fields_size,
    dumps,
)
from adapter.crm.normalize import (
    clean_text,
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
    split_contact_points,
    split_full_name,
    truncate_text,
)

CONTACT_ID = "f2b4f7ab-7033-47ce-be06-b30a47de020a"

# Any character, lone surrogates and control characters included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
phone_like = st.from_regex(r"\A[+0٠]{0,2}[0-9 ()\-.٠-٩]{0,18}( ?(ext\.?|x) ?[0-9]{1,4})?\Z")
email_like = st.from_regex(r"\A ?[A-Za-z0-9.+_\-]{1,10}@[A-Za-z0-9\-]{1,10}\.[A-Za-z]{1,4} ?\Z")
region = st.sampled_from(["EG", "SA", "US", "GB", "eg", "uk", "XX", "", None])
money_text = st.decimals(allow_nan=True, allow_infinity=True).map(str)


class _Opaque:
    """An object JSON has no form for."""


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=20),
    st.datetimes(),
    st.dates(),
    st.uuids(),
    st.builds(_Opaque),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.integers() | st.text(max_size=5), max_size=4),
        st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
    ),
    max_leaves=8,
)
key = st.one_of(any_text, st.integers(), st.sampled_from(["external_id", "dropped_fields"]))
# Some values are big, so that trimming to 32 KB is exercised.
field_value = st.one_of(
    anything,
    st.builds(lambda ch, n: ch * n, st.characters(), st.integers(0, 12_000)),
)
custom_fields = st.dictionaries(key, field_value, max_size=8)


@given(anything, region, region)
def test_every_normaliser_takes_anything(value: Any, hint: Any, default: Any) -> None:
    normalize_phone(value, hint, default)
    for function in (
        clean_text,
        normalize_name,
        normalize_title,
        normalize_source,
        normalize_description,
        normalize_stage,
        normalize_email,
        normalize_currency,
        parse_decimal,
        money_amount,
    ):
        function(value)
    normalize_tags(value)
    split_full_name(value)
    minor_to_major(value, "USD")
    minor_to_major(1999, value)
    custom_field_key(value)
    json_safe(value)
    normalize_custom_fields(value)
    split_contact_points(value, value, hint, default)


@given(phone_like | any_text, region, region)
def test_normalised_phone_is_e164_the_contract_accepts(raw: str, hint: Any, default: Any) -> None:
    phone = normalize_phone(raw, hint, default)
    if phone is not None:
        assert Contact(phones=[phone]).phones == [phone]
        assert normalize_phone(phone) == phone


@given(email_like | any_text)
def test_normalised_email_is_one_the_contract_accepts(raw: str) -> None:
    email = normalize_email(raw)
    if email is not None:
        Contact(emails=[email])
        assert normalize_email(email) == email


@pytest.mark.slow
@given(custom_fields)
def test_normalised_custom_fields_pass_the_contract(fields: dict[Any, Any]) -> None:
    result = normalize_custom_fields(fields)
    assert custom_fields_size(result) <= CUSTOM_FIELDS_MAX_BYTES
    Contact(custom_fields=result)


@pytest.mark.slow
@given(custom_fields, st.text(string.ascii_letters + string.digits, min_size=1, max_size=64))
def test_external_id_survives_normalisation(fields: dict[Any, Any], external_id: str) -> None:
    fields["external_id"] = external_id
    assert normalize_custom_fields(fields)["external_id"] == external_id


@pytest.mark.slow
@given(
    first=any_text,
    full=any_text,
    emails=st.lists(email_like | any_text, max_size=3),
    phones=st.lists(phone_like | any_text | st.integers(), max_size=3),
    hint=region,
    source=any_text,
    tags=st.lists(any_text, max_size=4) | any_text,
    description=any_text,
    extra=custom_fields,
)
def test_contact_from_normalised_values_passes_the_contract(
    first: str,
    full: str,
    emails: list[Any],
    phones: list[Any],
    hint: Any,
    source: str,
    tags: Any,
    description: str,
    extra: dict[Any, Any],
) -> None:
    points = split_contact_points(emails, phones, hint, "EG")
    _, last = split_full_name(full)
    contact = Contact(
        first_name=normalize_name(first),
        last_name=last,
        emails=points.emails or None,
        phones=points.phones or None,
        source=normalize_source(source),
        tags=normalize_tags(tags) or None,
        description=normalize_description(description),
        custom_fields=normalize_custom_fields({**extra, **points.custom_fields}),
    )
    Contact.model_validate_json(dumps(contact))


@pytest.mark.slow
@given(
    title=any_text,
    amount=st.one_of(money_text, st.integers(), st.floats(), any_text),
    minor=st.integers(),
    use_minor=st.booleans(),
    currency=st.one_of(st.sampled_from(["usd", "JPY", "kwd", "ISK", "xx"]), any_text),
    stage=st.one_of(st.sampled_from(["Qualified", " WON ", "closed_won"]), any_text),
    phone=phone_like,
    email=email_like,
    tags=st.lists(any_text, max_size=4),
    extra=custom_fields,
)
def test_bulk_deal_from_normalised_values_passes_the_contract(
    title: str,
    amount: Any,
    minor: int,
    use_minor: bool,
    currency: Any,
    stage: Any,
    phone: str,
    email: str,
    tags: list[str],
    extra: dict[Any, Any],
) -> None:
    value = money_amount(minor_to_major(minor, currency) if use_minor else amount)
    contact_phone = normalize_phone(phone, default_region="EG")
    contact_email = normalize_email(email)
    deal = BulkDeal(
        title=normalize_title(title) or "Order",
        value=value,
        currency=normalize_currency(currency),
        stage=normalize_stage(stage),
        contact_phone=contact_phone,
        contact_email=contact_email,
        contact_id=None if contact_phone or contact_email else CONTACT_ID,
        tags=normalize_tags(tags) or None,
        custom_fields=normalize_custom_fields(extra),
    )
    BulkDeal.model_validate_json(dumps(deal))
    BulkDeal.model_validate(json.loads(json.dumps(deal.to_json())))


@given(st.text(max_size=300), st.integers(0, 250))
def test_truncation_respects_the_limit(text: str, limit: int) -> None:
    assert len(truncate_text(text, limit)) <= limit


@given(st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from(["USD", "JPY", "KWD"]))
def test_minor_to_major_is_exact(amount: int, currency: str) -> None:
    exponent = {"USD": 2, "JPY": 0, "KWD": 3}[currency]
    major = minor_to_major(amount, currency)
    assert major is not None
    sign, digits, exp = major.as_tuple()
    assert exp == -exponent
    # Compared digit by digit: Decimal arithmetic would round at 28 digits.
    assert Decimal((sign, digits, 0)) == amount


@given(st.decimals(min_value=0, max_value=Decimal("9999999999999.99"), places=2))
def test_money_reaches_the_wire_and_comes_back_exactly(value: Decimal) -> None:
    deal = Deal.model_validate({"title": "t", "contact_id": CONTACT_ID, "value": value})
    assert json.loads(dumps(deal), parse_float=Decimal)["value"] == value
    assert Deal.model_validate(json.loads(json.dumps(deal.to_json()))).value == value


@given(st.decimals(min_value=0, max_value=Decimal("99999999999.9999"), places=4))
def test_normalised_amount_text_parses_to_the_same_money(value: Decimal) -> None:
    amount = money_amount(str(value))
    assert amount == value
    LeadDeal(title="t", value=amount)


@given(any_text, any_text)
def test_lead_from_normalised_values_passes_the_contract(name: str, title: str) -> None:
    Lead(
        contact=Contact(first_name=normalize_name(name)),
        deal=LeadDeal(title=normalize_title(title) or "Lead"),
    )
