"""Whatever a source sends, a mapper answers commands the contract accepts or a MappingError."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.mapping import INVALID_RECORD, MappingConfig, MappingError, ignore_reason
from adapter.mapping.config import SHOPIFY_TOPICS, STRIPE_EVENTS
from adapter.settings import FormConfig
from adapter.webhook import WebhookDelivery
from tests.mapping.support import RECEIVED, fixture, form_config, mapped

# Example counts come from the HYPOTHESIS_PROFILE (tests/hypothesis_profiles.py, loaded by
# conftest.py); the fixture mutations, one test per fixture, run a quarter as many each.
MUTATION_SETTINGS = settings(max_examples=max(settings.default.max_examples // 4, 10))

# Keys the mappers read, so that generated objects reach past the first lookups.
KEYS = [
    "id", "name", "email", "phone", "currency", "total_price", "financial_status",
    "cancelled_at", "customer", "billing_address", "shipping_address", "default_address",
    "country_code", "country", "first_name", "last_name", "line_items", "price", "quantity",
    "refunds", "transactions", "kind", "status", "tags", "token", "completed_at", "updated_at",
    "created_at", "order_id", "order_number", "email_marketing_consent", "state",
    "payment_gateway_names", "note_attributes", "value", "discount_codes", "code",
    "total_price_set", "presentment_money", "amount", "data", "object", "payment_intent",
    "amount_total", "customer_details", "amount_refunded", "refunded", "receipt_email",
    "billing_details", "address", "charges", "latest_charge", "invoice", "number",
    "amount_paid", "amount_due", "customer_email", "customer_phone", "customer_name", "lines",
    "unit_amount", "metadata", "livemode", "type", "created", "payment_status", "submission_id",
    "message", "whatsapp", "full_name", "budget", "deal_value", "opt_in", "orders_requested",
    "data_request", "shop_domain", "abandoned_checkout_url", "description", "shipping",
]  # fmt: skip
INTERESTING = [
    "", " ", "paid", "refunded", "voided", "USD", "jpy", "kwd", "xx", "EG", "SA",
    "a@example.com", "UPPER@EXAMPLE.COM", "not-an-email", "+201017177777", "01017177777",
    "0501234567", "123", "19.99", "-5", "1e400", "NaN", "Infinity", "1,200.50",
    "2026-11-28T10:00:00+03:00", "2026-13-45", "pi_1", "cs_1", "\x00", "\ud800", "é" * 300,
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(INTERESTING)
    | st.text(max_size=30)
)
keys = st.sampled_from(KEYS) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=15,
)
ids = st.integers(min_value=1, max_value=10**19) | st.sampled_from(["pi_1", "cs_1", "in_1"])
emails = st.sampled_from(["a@example.com", "B@Example.COM", "bad@", "x@y.z"])
phones = st.sampled_from(["+201017177777", "0501234567", "01017177777", "555-SHIP"])
currencies = st.sampled_from(["usd", "SAR", "jpy", "kwd", "isk", "zzz"])
amounts = st.integers(min_value=0, max_value=10**16) | st.sampled_from(["19.99", "0", "1e3"])
people = st.fixed_dictionaries(
    {}, optional={"id": ids, "email": emails, "phone": phones, "name": st.text(max_size=20)}
)
# Objects that carry the ids and contact details mappers need, so that runs get past
# the first checks; any of them may still be missing or replaced by arbitrary JSON.
plausible = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "token": ids,
        "order_id": ids,
        "email": emails,
        "phone": phones,
        "customer_email": emails,
        "receipt_email": emails,
        "payment_intent": ids,
        "customer": people,
        "customer_details": people,
        "billing_details": people,
        "currency": currencies,
        "amount": amounts,
        "amount_total": amounts,
        "total_price": amounts,
    },
)
objects = st.builds(
    lambda noise, known: {**noise, **known},
    st.dictionaries(keys, json_values, max_size=6),
    plausible | st.dictionaries(keys, json_values, max_size=3),
)
stripe_events = (
    st.builds(lambda obj, event: {**event, "data": {"object": obj}}, objects, objects) | objects
)

ROUTES = [("shopify", topic) for topic in SHOPIFY_TOPICS] + [
    ("stripe", event) for event in STRIPE_EVENTS
]
FIXTURE_ROUTES = [
    ("shopify/orders_create.json", "shopify", "orders/create"),
    ("shopify/orders_updated.json", "shopify", "orders/updated"),
    ("shopify/customers_create.json", "shopify", "customers/create"),
    ("shopify/customers_update.json", "shopify", "customers/update"),
    ("shopify/checkouts_update.json", "shopify", "checkouts/update"),
    ("shopify/customers_redact.json", "shopify", "customers/redact"),
    ("shopify/customers_data_request.json", "shopify", "customers/data_request"),
    ("shopify/shop_redact.json", "shopify", "shop/redact"),
    ("shopify/orders_updated.json", "shopify", "refunds/create"),
    ("stripe/checkout.session.completed.json", "stripe", "checkout.session.completed"),
    ("stripe/checkout.session.completed.json", "stripe", "payment_intent.succeeded"),
    ("stripe/charge.refunded.json", "stripe", "charge.refunded"),
    ("stripe/customer.created.json", "stripe", "customer.updated"),
    ("stripe/invoice.paid.json", "stripe", "invoice.paid"),
    ("stripe/invoice.paid.json", "stripe", "invoice.payment_failed"),
]
FORM_TARGETS = [
    "first_name", "last_name", "full_name", "name", "email", "phone", "company", "country",
    "opt_in", "message", "tags", "ignore", "deal.value", "deal.currency", "deal.description",
    "custom.plan", "contact.custom.age", "custom.Ünïcode Key",
]  # fmt: skip


def delivery(source: str, topic: str, payload: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery.model_validate(
        {
            "source": source,
            "topic": topic,
            "delivery_id": "d-1",
            "received_at": RECEIVED,
            "shop_domain": "demo.myshopify.com" if source == "shopify" else None,
            "form_id": topic if source == "form" else None,
            "payload": payload,
        }
    )


def maps_or_fails_cleanly(
    item: WebhookDelivery, forms: dict[str, FormConfig] | None = None
) -> None:
    reason = None
    try:
        mapped(item, MappingConfig(), forms)  # re-validates every command it returns
    except MappingError as exc:
        reason = exc.reason
    if reason is not None:
        assert reason
        assert not reason.startswith(INVALID_RECORD), reason


@pytest.mark.slow
@given(route=st.sampled_from(ROUTES), payload=objects, event=stripe_events)
def test_arbitrary_objects_map_or_fail_cleanly(
    route: tuple[str, str], payload: dict[str, Any], event: dict[str, Any]
) -> None:
    source, topic = route
    maps_or_fails_cleanly(delivery(source, topic, event if source == "stripe" else payload))


@pytest.mark.slow
@given(
    payload=objects,
    fields=st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=8), st.sampled_from(FORM_TARGETS)
    ),
)
def test_arbitrary_form_submissions_map_or_fail_cleanly(
    payload: dict[str, Any], fields: dict[str, str]
) -> None:
    forms = {"contact": form_config(fields=fields)}
    maps_or_fails_cleanly(delivery("form", "contact", payload), forms)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found.append((*prefix, key))
        if isinstance(item, dict | list) and item:
            found.extend(paths(item, (*prefix, key)))
    return found


def retyped(value: Any) -> Any:
    if isinstance(value, str):
        return int(value) if value.isdigit() and len(value) < 30 else [value]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return {"items": value}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


def mutate(payload: Any, path: tuple[Any, ...], operation: str, replacement: Any) -> None:
    *parents, last = path
    target = payload
    for key in parents:
        target = target[key]
    if operation == "delete":
        del target[last]
    elif operation == "null":
        target[last] = None
    elif operation == "retype":
        target[last] = retyped(target[last])
    else:
        target[last] = replacement


@pytest.mark.parametrize(("name", "source", "topic"), FIXTURE_ROUTES)
@MUTATION_SETTINGS
@given(data=st.data())
def test_mutated_fixtures_map_or_fail_cleanly(
    name: str, source: str, topic: str, data: st.DataObject
) -> None:
    payload = fixture(name)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        candidates = paths(payload)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates), label="path")
        operation = data.draw(st.sampled_from(["delete", "null", "retype", "replace"]))
        replacement = (
            data.draw(json_values, label="replacement") if operation == "replace" else None
        )
        mutate(payload, path, operation, replacement)
    maps_or_fails_cleanly(delivery(source, topic, copy.deepcopy(payload)))


@given(
    source=st.sampled_from(["shopify", "stripe", "form"]),
    topic=st.sampled_from([*SHOPIFY_TOPICS, *STRIPE_EVENTS]) | st.text(max_size=30),
    payload=st.dictionaries(st.sampled_from(["livemode", "type", "data"]) | keys, scalars),
    ignore_test_mode=st.booleans(),
)
def test_ignore_reason_never_raises(
    source: str, topic: str, payload: dict[str, Any], ignore_test_mode: bool
) -> None:
    config = MappingConfig.model_validate({"stripe": {"ignore_test_mode": ignore_test_mode}})
    reason = ignore_reason(delivery(source, topic, payload), config)
    assert reason is None or isinstance(reason, str)
