"""WooCommerce webhooks (`X-WC-Webhook-Topic`, REST API v3 bodies) into CRM commands.

External ids: `woocommerce:{store}:order:{id}` and `woocommerce:{store}:customer:{id}`,
`{store}` being the one of the webhook URL. `order.created` and `order.updated`
upsert the same deal; its stage follows the order's `status`
(`mapping.woocommerce.status_stages`), and `date_modified_gmt` orders the updates.

Decisions:
- The billing address makes the contact (the buyer); shipping details are used only
  when billing has none. A phone written without a country code is read in the billing
  country, else the store's country (`mapping.woocommerce.store_countries`), else
  `mapping.default_phone_region`.
- An order without a valid email or phone is linked to the contact of its customer
  (`customer_id`, 0 for a guest checkout: id map `woocommerce:{store}:customer:{id}`,
  then a search on `custom_fields->>woocommerce_customer_id`, waiting a bounded time
  for the customer's webhook), or, without one, to the store's guest contact
  (`woocommerce:{store}:guest`, deal tagged `guest`), whatever the order's status, as
  for Shopify; a MappingError only when `mapping.customers.guest_sales` is off.
- An order with contact details also sends a `CompleteContact` (the CRM does not
  update a contact it links a deal to): the billing and shipping phones, the email, and
  the name where the contact has none.
- A customer without a valid email or phone still becomes a contact (name, WooCommerce
  id, country), found again by its external id.
- A signed body that was not a JSON object reaches here as `unreadable_body` and is a
  MappingError, so the worker dead-letters it: WooCommerce was answered 2xx so that it
  does not count the delivery towards disabling the webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.crm.commands import AnyCommand, UpsertContact, UpsertDeal
from adapter.crm.models import BulkDeal, LeadDeal, Product
from adapter.crm.normalize import (
    money_amount,
    normalize_currency,
    normalize_description,
    normalize_source,
    normalize_tags,
    parse_decimal,
    phone_region,
)
from adapter.mapping import _fields as f
from adapter.mapping._customers import completion, customer_deal, customer_ref
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError
from adapter.mapping.store_config import UNREADABLE_BODY_KEY, WooCommerceMapping
from adapter.webhook import WebhookDelivery


@dataclass(frozen=True)
class _Context:
    store: str
    body: dict[str, Any]
    config: MappingConfig

    @property
    def settings(self) -> WooCommerceMapping:
        return self.config.woocommerce

    def external_id(self, kind: str, key: str) -> str:
        return f"woocommerce:{self.store}:{kind}:{key}"[:255]

    def person(self, *addresses: dict[str, Any]) -> Person:
        """A person whose local phone numbers are read in the first address's country,
        else the store's."""
        country = next(
            (region for a in addresses if (region := phone_region(a.get("country")))), None
        )
        store_country = self.settings.store_countries.get(self.store)
        return Person(default_region=country or store_country or self.config.default_phone_region)


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    if UNREADABLE_BODY_KEY in delivery.payload:
        raise MappingError("WooCommerce delivery body is not a JSON object")
    handler = _HANDLERS.get(delivery.topic)
    if handler is None:
        return []
    store = f.text(delivery.shop_domain)
    if store is None:
        raise MappingError("WooCommerce delivery has no store")
    return handler(_Context(store=store, body=delivery.payload, config=config))


def _order(ctx: _Context) -> list[AnyCommand]:
    order = ctx.body
    order_id = f.text(order.get("id"))
    if order_id is None:
        raise MappingError("WooCommerce order has no id")
    external_id = ctx.external_id("order", order_id)
    number = f.text(order.get("number")) or order_id
    billing = f.child(order, "billing")
    shipping = f.child(order, "shipping")
    person = ctx.person(billing, shipping)
    person.add_email(billing.get("email"))
    person.add_phone(billing.get("phone"))
    person.add_phone(shipping.get("phone"))
    person.add_names(billing.get("first_name"), billing.get("last_name"))
    person.add_names(shipping.get("first_name"), shipping.get("last_name"))
    settings = ctx.settings
    status = f.text(order.get("status"))
    customer_id = _customer_id(order)
    row = {
        "title": render(
            settings.order_title, {"number": number, "id": order_id, "store": ctx.store}
        ),
        "value": money_amount(order.get("total")),
        "currency": normalize_currency(order.get("currency")),
        "stage": settings.status_stages.get(status.lower()) if status else None,
        "source": normalize_source(settings.source),
        "tags": normalize_tags(settings.tags) or None,
        "products": _products(order) or None,
        "description": normalize_description(order.get("customer_note")),
        "custom_fields": f.custom_fields(
            {
                "external_id": external_id,
                "woocommerce_store": ctx.store,
                "woocommerce_order_id": order_id,
                "order_number": number,
                "order_status": status,
                "payment_method": f.text(order.get("payment_method_title"))
                or f.text(order.get("payment_method")),
                "billing_company": f.text(billing.get("company")),
                "billing_city": f.text(billing.get("city")),
                "billing_country": f.text(billing.get("country")),
                "shipping_city": f.text(shipping.get("city")),
                "shipping_country": f.text(shipping.get("country")),
                "coupon_codes": _coupon_codes(order),
                "refunded_amount": _refunded(order),
                "woocommerce_customer_id": customer_id,
                **person.raw_fields(),
            }
        ),
    }
    updated_at = _updated_at(order)
    if not person.reachable:
        customer = customer_ref(
            ctx.config,
            "WooCommerce order",
            guest_external_id=f"woocommerce:{ctx.store}:guest",
            guest_source=settings.source,
            contact_external_id=ctx.external_id("customer", customer_id) if customer_id else None,
            search_field="woocommerce_customer_id",
            search_value=customer_id,
        )
        return [customer_deal(external_id, updated_at, LeadDeal(**row), customer)]
    deal = BulkDeal(**row, **person.deal_contact("WooCommerce order"))
    return [
        UpsertDeal(external_id=external_id, source_updated_at=updated_at, deal=deal),
        *completion(person, external_id, updated_at),
    ]


def _customer_id(order: dict[str, Any]) -> str | None:
    """The order's customer id; WooCommerce writes 0 for a guest checkout."""
    customer_id = f.text(order.get("customer_id"))
    return None if customer_id in (None, "0") else customer_id


def _products(order: dict[str, Any]) -> list[Product]:
    return [
        Product(
            name=f.text(item.get("name")),
            sku=f.text(item.get("sku")),
            quantity=money_amount(item.get("quantity")),
            unit_price=money_amount(item.get("price")),
        )
        for item in f.records(order, "line_items")
    ]


def _coupon_codes(order: dict[str, Any]) -> list[str]:
    return [code for c in f.records(order, "coupon_lines") if (code := f.text(c.get("code")))]


def _refunded(order: dict[str, Any]) -> Decimal | None:
    """What the order's refunds gave back; WooCommerce writes each total as negative."""
    refunds = f.records(order, "refunds")
    if not refunds:
        return None
    total = Decimal(0)
    for refund in refunds:
        amount = parse_decimal(refund.get("total"))
        total += money_amount(abs(amount)) or 0 if amount is not None else 0
    return total


def _customer(ctx: _Context) -> list[AnyCommand]:
    customer = ctx.body
    customer_id = f.text(customer.get("id"))
    if customer_id is None:
        raise MappingError("WooCommerce customer has no id")
    billing = f.child(customer, "billing")
    shipping = f.child(customer, "shipping")
    person = ctx.person(billing, shipping)
    person.add_email(customer.get("email"))
    person.add_email(billing.get("email"))
    person.add_phone(billing.get("phone"))
    person.add_phone(shipping.get("phone"))
    person.add_names(customer.get("first_name"), customer.get("last_name"))
    person.add_names(billing.get("first_name"), billing.get("last_name"))
    external_id = ctx.external_id("customer", customer_id)
    contact = person.contact(
        source=normalize_source(ctx.settings.source),
        tags=normalize_tags(ctx.settings.tags) or None,
        custom_fields=f.custom_fields(
            {
                "external_id": external_id,
                "woocommerce_store": ctx.store,
                "woocommerce_customer_id": customer_id,
                "username": f.text(customer.get("username")),
                "city": f.text(billing.get("city")),
                "country": f.text(billing.get("country")),
                "company": f.text(billing.get("company")),
                **person.raw_fields(),
            }
        ),
    )
    return [
        UpsertContact(
            external_id=external_id, source_updated_at=_updated_at(customer), contact=contact
        )
    ]


def _updated_at(body: dict[str, Any]) -> datetime | None:
    # the `_gmt` fields are UTC without an offset; the others are in the store's zone
    return f.timestamp(body.get("date_modified_gmt")) or f.timestamp(body.get("date_created_gmt"))


_HANDLERS: dict[str, Callable[[_Context], list[AnyCommand]]] = {
    "order.created": _order,
    "order.updated": _order,
    "customer.created": _customer,
    "customer.updated": _customer,
}
