"""Salla webhooks (`{event, merchant, created_at, data}`) into CRM commands.

External ids: `salla:{merchant}:order:{id}`, `salla:{merchant}:customer:{id}`,
`salla:{merchant}:cart:{id}`. `order.created`, `order.updated` and
`order.status.updated` upsert the same deal; its stage follows the status `slug`
(`mapping.salla.status_stages`), and the envelope's `created_at` orders the updates.
`abandoned.cart` creates a lead once.

Decisions:
- Amounts are taken as Salla sends them: decimal riyals (`amounts.total.amount: 196`
  is SAR 196), never minor units. Older payloads write a plain number where newer ones
  write `{amount, currency}`; both are read.
- The mobile is `mobile_code` + `mobile` (`+966` and `501234567`); a mobile written
  with its trunk zero (`0501234567`) is read in the country of `mobile_code`.
- An order without a valid email or mobile is linked to the contact of its
  `customer.id` (id map `salla:{merchant}:customer:{id}`, then a search on
  `custom_fields->>salla_customer_id`, waiting a bounded time for the customer's
  webhook), or, without one, to the merchant's guest contact (`salla:{merchant}:guest`,
  deal tagged `guest`), whatever the order's status, as for Shopify; a MappingError only
  when `mapping.customers.guest_sales` is off.
- An order with contact details also sends a `CompleteContact` (the CRM does not
  update a contact it links a deal to): the customer's and the receiver's email and
  phone, and the name where the contact has none.
- A customer without a valid email or mobile still becomes a contact (name, Salla id,
  city, country), found again by its external id. A cart without one maps to no
  commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import phonenumbers

from adapter.crm.commands import AnyCommand, CreateLead, UpsertContact, UpsertDeal
from adapter.crm.models import BulkDeal, Lead, LeadDeal, Product
from adapter.crm.normalize import (
    money_amount,
    normalize_currency,
    normalize_source,
    normalize_tags,
)
from adapter.mapping import _fields as f
from adapter.mapping._customers import completion, customer_deal, customer_ref
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError
from adapter.mapping.store_config import UNREADABLE_BODY_KEY, SallaMapping
from adapter.webhook import WebhookDelivery

# `Sun Jun 26 2022 12:21:48 GMT+0300`, as Salla writes `created_at`
_SALLA_TIME = "%a %b %d %Y %H:%M:%S GMT%z"


@dataclass(frozen=True)
class _Context:
    merchant: str
    data: dict[str, Any]
    sent_at: datetime | None
    config: MappingConfig

    @property
    def settings(self) -> SallaMapping:
        return self.config.salla

    def external_id(self, kind: str, key: str) -> str:
        return f"salla:{self.merchant}:{kind}:{key}"[:255]

    def person(self) -> Person:
        return Person(default_region=self.config.default_phone_region)


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    if UNREADABLE_BODY_KEY in delivery.payload:
        raise MappingError("Salla delivery body is not a JSON object")
    handler = _HANDLERS.get(delivery.topic)
    if handler is None:
        return []
    merchant = f.text(delivery.shop_domain) or f.text(delivery.payload.get("merchant"))
    if merchant is None:
        raise MappingError("Salla delivery has no merchant")
    data = f.child(delivery.payload, "data")
    sent_at = _sent_at(delivery.payload.get("created_at"))
    return handler(_Context(merchant=merchant, data=data, sent_at=sent_at, config=config))


def _sent_at(value: Any) -> datetime | None:
    text = f.text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text, _SALLA_TIME)
    except ValueError:
        return f.timestamp(text)


def amount(value: Any) -> Decimal | None:
    """A Salla amount: `{"amount": 196, "currency": "SAR"}` or a plain number, in units."""
    if isinstance(value, dict):
        value = value.get("amount")
    return money_amount(value)


def add_mobile(person: Person, record: dict[str, Any], key: str = "mobile") -> None:
    """`mobile_code` + `mobile` as one number, local forms read in the code's country."""
    mobile = f.text(record.get(key))
    if mobile is None:
        return
    code = f.text(record.get("mobile_code"))
    digits = code.lstrip("+").strip() if code else ""
    region = None
    if digits.isdigit() and len(digits) <= 3:
        found = phonenumbers.region_code_for_country_code(int(digits))
        region = found if found != phonenumbers.UNKNOWN_REGION else None
    if mobile.startswith(("+", "00")) or region is not None or not digits:
        person.add_phone(mobile, region)
    else:
        person.add_phone(f"+{digits}{mobile.lstrip('0')}")


# --- orders ----------------------------------------------------------------


def _order(ctx: _Context) -> list[AnyCommand]:
    # order.status.updated nests the order; the other order events are the order
    order = f.child(ctx.data, "order") or ctx.data
    order_id = f.text(order.get("id")) or f.text(ctx.data.get("order_id"))
    if order_id is None:
        raise MappingError("Salla order has no id")
    external_id = ctx.external_id("order", order_id)
    reference = f.text(order.get("reference_id")) or order_id
    customer = f.child(order, "customer")
    receiver = f.child(f.child(order, "shipping"), "receiver")
    person = ctx.person()
    person.add_email(customer.get("email"))
    add_mobile(person, customer)
    person.add_names(customer.get("first_name"), customer.get("last_name"))
    person.add_email(receiver.get("email"))
    person.add_phone(receiver.get("phone"))
    person.add_full_name(receiver.get("name"))
    status = f.child(order, "status")
    slug = f.text(status.get("slug"))
    amounts = f.child(order, "amounts")
    total = amounts.get("total")
    currency = f.child(amounts, "total").get("currency") or order.get("currency")
    settings = ctx.settings
    title = render(
        settings.order_title, {"reference_id": reference, "id": order_id, "merchant": ctx.merchant}
    )
    customer_id = f.text(customer.get("id"))
    row = {
        "title": title,
        "value": amount(total),
        "currency": normalize_currency(currency),
        "stage": settings.status_stages.get(slug.lower()) if slug else None,
        "source": normalize_source(settings.source),
        "tags": normalize_tags(settings.tags) or None,
        "products": _products(order) or None,
        "custom_fields": f.custom_fields(
            {
                "external_id": external_id,
                "salla_merchant": ctx.merchant,
                "salla_order_id": order_id,
                "reference_id": reference,
                "order_status": slug,
                "order_status_name": f.text(f.child(status, "customized").get("name"))
                or f.text(status.get("name")),
                "payment_method": f.text(order.get("payment_method")),
                "salla_customer_id": customer_id,
                "city": f.text(customer.get("city")),
                "country": f.text(customer.get("country")),
                **person.raw_fields(),
            }
        ),
    }
    if not person.reachable:
        ref = customer_ref(
            ctx.config,
            "Salla order",
            guest_external_id=f"salla:{ctx.merchant}:guest",
            guest_source=settings.source,
            contact_external_id=ctx.external_id("customer", customer_id) if customer_id else None,
            search_field="salla_customer_id",
            search_value=customer_id,
        )
        return [customer_deal(external_id, ctx.sent_at, LeadDeal(**row), ref)]
    deal = BulkDeal(**row, **person.deal_contact("Salla order"))
    return [
        UpsertDeal(external_id=external_id, source_updated_at=ctx.sent_at, deal=deal),
        *completion(person, external_id, ctx.sent_at),
    ]


def _products(order: dict[str, Any]) -> list[Product]:
    products = []
    for item in f.records(order, "items"):
        prices = f.child(item, "amounts")
        products.append(
            Product(
                name=f.text(item.get("name")),
                sku=f.text(item.get("sku")),
                quantity=money_amount(item.get("quantity")),
                unit_price=amount(prices.get("price_without_tax")) or amount(item.get("price")),
            )
        )
    return products


# --- customers -------------------------------------------------------------


def _customer(ctx: _Context) -> list[AnyCommand]:
    customer = ctx.data
    customer_id = f.text(customer.get("id"))
    if customer_id is None:
        raise MappingError("Salla customer has no id")
    person = ctx.person()
    person.add_email(customer.get("email"))
    add_mobile(person, customer)
    person.add_names(customer.get("first_name"), customer.get("last_name"))
    external_id = ctx.external_id("customer", customer_id)
    contact = person.contact(
        source=normalize_source(ctx.settings.source),
        tags=normalize_tags(ctx.settings.tags) or None,
        custom_fields=f.custom_fields(
            {
                "external_id": external_id,
                "salla_merchant": ctx.merchant,
                "salla_customer_id": customer_id,
                "city": f.text(customer.get("city")),
                "country": f.text(customer.get("country")),
                "gender": f.text(customer.get("gender")),
                **person.raw_fields(),
            }
        ),
    )
    return [UpsertContact(external_id=external_id, source_updated_at=ctx.sent_at, contact=contact)]


# --- abandoned carts -------------------------------------------------------


def _cart(ctx: _Context) -> list[AnyCommand]:
    cart = ctx.data
    cart_id = f.text(cart.get("id"))
    if cart_id is None:
        raise MappingError("Salla abandoned cart has no id")
    customer = f.child(cart, "customer")
    person = ctx.person()
    person.add_email(customer.get("email"))
    add_mobile(person, customer)
    person.add_full_name(customer.get("name"))
    if not person.reachable:
        return []
    settings = ctx.settings
    external_id = ctx.external_id("cart", cart_id)
    tags = normalize_tags([*settings.tags, *settings.cart_tags]) or None
    source = normalize_source(settings.source)
    total = cart.get("total")
    currency = f.child(cart, "total").get("currency") or cart.get("currency")
    lead = Lead(
        contact=person.contact(primary_only=True, source=source, tags=tags),
        deal=LeadDeal(
            title=render(settings.cart_title, {"id": cart_id, "merchant": ctx.merchant}),
            value=amount(total),
            currency=normalize_currency(currency),
            stage=settings.cart_stage,
            source=source,
            tags=tags,
            custom_fields=f.custom_fields(
                {
                    "external_id": external_id,
                    "salla_merchant": ctx.merchant,
                    "salla_cart_id": cart_id,
                    "checkout_url": f.text(cart.get("checkout_url")),
                    "coupon_code": f.text(f.child(cart, "coupon").get("code")),
                    "age_in_minutes": f.integer(cart.get("age_in_minutes")),
                    **person.raw_fields(),
                }
            ),
        ),
    )
    return [CreateLead(external_id=external_id, source_updated_at=ctx.sent_at, lead=lead)]


_HANDLERS: dict[str, Callable[[_Context], list[AnyCommand]]] = {
    "order.created": _order,
    "order.updated": _order,
    "order.status.updated": _order,
    "customer.created": _customer,
    "customer.updated": _customer,
    "abandoned.cart": _cart,
}
