"""Paymob transaction callbacks (`{"type": "TRANSACTION", "obj": {...}}`) into CRM commands.

One deal per Paymob order (`paymob:order:{order.id}`, Paymob's order ids are global):
every transaction of the order (a declined card, the retry that succeeds, a refund)
updates it, ordered by the transaction's `created_at`. Its value is the order's
`amount_cents` (not the transaction's, which for a refund is the refunded part), in
major units of `currency`: EGP, SAR, AED and PKR have 2 decimals, OMR 3 (ISO 4217;
`mapping.paymob.currency_exponents` overrides).

The stage follows what the transaction came to (`mapping.paymob.outcome_stages`):
`voided`, `refunded` (all of it) or `partially_refunded`, `pending` (kiosk and wallet
payments waiting for the customer), `success`, else `declined`. A refund or void
transaction that did not succeed changes nothing but the fields.

Paymob calls back again when a transaction changes (a pending kiosk payment that is
paid, a void, a refund of it) with the same `created_at`, so the state breaks the tie:
a pending one orders a microsecond before, a voided or refunded one a microsecond
after, so that a late or re-ordered pending callback never wins over its outcome.

The payer is the order's `shipping_data`, then the payment key's `billing_data`.
Paymob requires every billing field, so merchants fill unknown ones with `NA`: such
placeholders are not contact details. Local phone numbers are read in the address's
country, else the currency's (EGP → EG, ...), else `mapping.default_phone_region`.
A transaction whose payer has no valid email or phone is linked to the integration's
guest contact (`paymob:{integration}:guest`, deal tagged `guest`; Paymob names no
customer id), whatever its outcome, as Shopify's orders are; a MappingError only when
`mapping.customers.guest_sales` is off. One with a payer also sends a `CompleteContact`
(the CRM does not update a contact it links a deal to): the shipping and billing email
and phone, and the name where the contact has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from adapter.crm.commands import AnyCommand, UpsertDeal
from adapter.crm.models import BulkDeal, LeadDeal
from adapter.crm.normalize import (
    minor_to_major,
    money_amount,
    normalize_currency,
    normalize_source,
    normalize_tags,
    phone_region,
)
from adapter.mapping import _fields as f
from adapter.mapping._customers import completion, customer_deal, customer_ref
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError
from adapter.webhook import WebhookDelivery

CURRENCY_REGIONS = {"EGP": "EG", "SAR": "SA", "AED": "AE", "OMR": "OM", "PKR": "PK"}
# what a transaction's state adds to its `created_at` to order its callbacks
_STATE_ORDER = {
    "pending": timedelta(microseconds=-1),
    "voided": timedelta(microseconds=1),
    "refunded": timedelta(microseconds=1),
    "partially_refunded": timedelta(microseconds=1),
}
_PLACEHOLDERS = frozenset({"na", "n/a", "none", "null", "-"})


@dataclass(frozen=True)
class Outcome:
    name: str | None
    refunded_cents: int | None = None


def outcome(obj: dict[str, Any], order_cents: int | None) -> Outcome:
    """What the transaction came to; `name` None for a refund or void that failed."""
    succeeded = f.boolean(obj.get("success")) is True
    if f.boolean(obj.get("is_void")):
        return Outcome("voided" if succeeded else None)
    if f.boolean(obj.get("is_voided")):
        return Outcome("voided")
    refunded: int | None = None
    if f.boolean(obj.get("is_refund")):
        if not succeeded:
            return Outcome(None)
        refunded = f.integer(obj.get("amount_cents"))
    elif f.boolean(obj.get("is_refunded")):
        refunded = f.integer(obj.get("refunded_amount_cents"))
    else:
        if f.boolean(obj.get("pending")):
            return Outcome("pending")
        return Outcome("success" if succeeded else "declined")
    partial = refunded is not None and order_cents is not None and 0 < refunded < order_cents
    return Outcome("partially_refunded" if partial else "refunded", refunded)


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    if delivery.topic != "TRANSACTION":
        return []
    obj = f.child(delivery.payload, "obj")
    order = f.child(obj, "order")
    order_id = f.text(order.get("id")) or f.text(obj.get("order"))
    if order_id is None:
        raise MappingError("Paymob transaction has no order id")
    settings = config.paymob
    exponents = settings.currency_exponents
    currency = normalize_currency(order.get("currency")) or normalize_currency(obj.get("currency"))
    order_cents = f.integer(order.get("amount_cents"))
    if order_cents is None:
        order_cents = f.integer(obj.get("amount_cents"))
    result = outcome(obj, order_cents)
    person = _payer(obj, order, currency, config.default_phone_region)
    external_id = f"paymob:order:{order_id}"[:255]
    merchant_order_id = f.text(order.get("merchant_order_id"))
    integration = f.text(delivery.shop_domain) or f.text(obj.get("integration_id")) or ""
    source_data = f.child(obj, "source_data")
    row = {
        "title": render(
            settings.order_title,
            {
                "order_id": order_id,
                "merchant_order_id": merchant_order_id or order_id,
                "integration": integration,
            },
        ),
        "value": _major(order_cents, currency, exponents),
        "currency": currency,
        "stage": settings.outcome_stages.get(result.name) if result.name else None,
        "source": normalize_source(settings.source),
        "tags": normalize_tags(settings.tags) or None,
        "custom_fields": f.custom_fields(
            {
                "external_id": external_id,
                "paymob_order_id": order_id,
                "merchant_order_id": merchant_order_id,
                "paymob_transaction_id": f.text(obj.get("id")),
                "paymob_integration_id": f.text(obj.get("integration_id")),
                "payment_outcome": result.name,
                "payment_method": f.text(source_data.get("type")),
                "payment_method_detail": f.text(source_data.get("sub_type")),
                "refunded_amount": _major(result.refunded_cents, currency, exponents),
                "gateway_message": f.text(f.child(obj, "data").get("message")),
                **person.raw_fields(),
            }
        ),
    }
    updated_at = _ordered(f.timestamp(obj.get("created_at")), result.name)
    if not person.reachable:
        customer = customer_ref(
            config,
            "Paymob transaction",
            guest_external_id=f"paymob:{integration}:guest",
            guest_source=settings.source,
        )
        return [customer_deal(external_id, updated_at, LeadDeal(**row), customer)]
    deal = BulkDeal(**row, **person.deal_contact("Paymob transaction"))
    return [
        UpsertDeal(external_id=external_id, source_updated_at=updated_at, deal=deal),
        *completion(person, external_id, updated_at),
    ]


def _ordered(created_at: datetime | None, state: str | None) -> datetime | None:
    if created_at is None or state is None:
        return created_at
    return created_at + _STATE_ORDER.get(state, timedelta())


def _major(cents: int | None, currency: str | None, exponents: dict[str, int]) -> Decimal | None:
    if cents is None or currency is None:
        return None
    return money_amount(minor_to_major(cents, currency, exponents))


def _payer(
    obj: dict[str, Any], order: dict[str, Any], currency: str | None, default_region: str
) -> Person:
    shipping = f.child(order, "shipping_data")
    billing = f.child(f.child(obj, "payment_key_claims"), "billing_data")
    region = (
        phone_region(_real(shipping.get("country")))
        or phone_region(_real(billing.get("country")))
        or CURRENCY_REGIONS.get(currency or "")
        or default_region
    )
    person = Person(default_region=region)
    for data in (shipping, billing):
        person.add_email(_real(data.get("email")))
        person.add_phone(_real(data.get("phone_number")))
        person.add_names(_real(data.get("first_name")), _real(data.get("last_name")))
    return person


def _real(value: Any) -> Any:
    """The value, unless it is one of the placeholders Paymob's required fields get."""
    text = f.text(value)
    if text is None or text.lower() in _PLACEHOLDERS:
        return None
    return value
