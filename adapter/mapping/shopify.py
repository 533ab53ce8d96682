"""Shopify webhooks (`X-Shopify-Topic`) into CRM commands.

External ids: `shopify:{shop}:order:{id}`, `shopify:{shop}:customer:{id}`,
`shopify:{shop}:checkout:{token}`. Every `orders/*` topic upserts the same deal
(same external id, same title), so deliveries may arrive in any order.

Decisions:
- `refunds/create` only records the refund (`last_refund_*` custom fields): a refund
  does not carry the order's total, so it cannot tell a full refund from a partial
  one. The `orders/updated` Shopify sends with it has `financial_status: refunded`
  and the total `refunded_amount`, and moves the deal to the refunded stage.
- An order without a valid email or phone (POS and guest sales) is linked to the
  contact of its `customer` (id map `shopify:{shop}:customer:{id}`, then a search on
  `custom_fields->>shopify_customer_id`, waiting a bounded time for the customer's
  webhook), or, without a customer, to the shop's guest contact
  (`shopify:{shop}:guest`, deal tagged `guest`); a MappingError only when
  `mapping.customers.guest_sales` is off.
- An order with contact details also sends a `CompleteContact` (the CRM does not
  update a contact it links a deal to): every valid phone of the order, customer,
  billing and shipping address, every email, and the name where the contact has none.
- A customer with neither a valid email nor phone still becomes a contact (name,
  Shopify id, country), found again by its external id.
- An abandoned checkout without contact details, and a checkout already completed
  (it became an order) map to no commands: the worker counts them as skipped.
- `customers/redact` names the person's emails, phones and `orders_to_redact`, whose
  deals are scrubbed wherever they are linked (the guest contact's, too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.crm.commands import (
    AnyCommand,
    CreateLead,
    ForgetShop,
    RecordDataRequest,
    RedactContact,
    UpdateDeal,
    UpsertContact,
    UpsertDeal,
)
from adapter.crm.models import BulkDeal, DealUpdate, Lead, LeadDeal, Product
from adapter.crm.normalize import (
    money_amount,
    normalize_currency,
    normalize_description,
    normalize_source,
    normalize_tags,
    phone_region,
)
from adapter.mapping import _fields as f
from adapter.mapping._customers import completion, customer_deal, customer_ref
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig, ShopifyMapping
from adapter.mapping.errors import MappingError
from adapter.webhook import WebhookDelivery


@dataclass(frozen=True)
class _Context:
    shop: str
    body: dict[str, Any]
    config: MappingConfig

    @property
    def settings(self) -> ShopifyMapping:
        return self.config.shopify

    def person(self) -> Person:
        return Person(default_region=self.config.default_phone_region)

    def external_id(self, kind: str, key: str) -> str:
        return f"shopify:{self.shop}:{kind}:{key}"[:255]


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    handler = _HANDLERS.get(delivery.topic)
    if handler is None:
        return []
    shop = f.text(delivery.shop_domain) or f.text(delivery.payload.get("shop_domain"))
    if shop is None:
        raise MappingError("Shopify delivery has no shop domain")
    return handler(_Context(shop=shop.lower(), body=delivery.payload, config=config))


# --- orders ----------------------------------------------------------------


def _order(ctx: _Context) -> list[AnyCommand]:
    order = ctx.body
    order_id = f.text(order.get("id"))
    if order_id is None:
        raise MappingError("Shopify order has no id")
    external_id = ctx.external_id("order", order_id)
    number = f.text(order.get("order_number"))
    name = f.text(order.get("name")) or (f"#{number}" if number else order_id)
    title = render(
        ctx.settings.order_title,
        {"name": name, "order_number": number or "", "id": order_id, "shop": ctx.shop},
    )
    person = _order_person(ctx, order)
    row = {
        "title": title,
        "value": money_amount(order.get("total_price")),
        "currency": normalize_currency(order.get("currency")),
        "stage": _order_stage(order, ctx.settings),
        "source": normalize_source(ctx.settings.source),
        "tags": normalize_tags([*normalize_tags(order.get("tags")), *ctx.settings.tags]) or None,
        "products": _products(order) or None,
        "custom_fields": f.custom_fields(
            {
                "external_id": external_id,
                **_order_fields(ctx, order, order_id, name),
                **person.raw_fields(),
            }
        ),
    }
    updated_at = _updated_at(order)
    if not person.reachable:
        customer_id = f.text(f.child(order, "customer").get("id"))
        customer = customer_ref(
            ctx.config,
            "Shopify order",
            guest_external_id=f"shopify:{ctx.shop}:guest",
            guest_source=ctx.settings.source,
            contact_external_id=ctx.external_id("customer", customer_id) if customer_id else None,
            search_field="shopify_customer_id",
            search_value=customer_id,
        )
        return [customer_deal(external_id, updated_at, LeadDeal(**row), customer)]
    deal = BulkDeal(**row, **person.deal_contact("Shopify order"))
    return [
        UpsertDeal(external_id=external_id, source_updated_at=updated_at, deal=deal),
        *completion(person, external_id, updated_at),
    ]


def _order_person(ctx: _Context, order: dict[str, Any]) -> Person:
    customer = f.child(order, "customer")
    shipping = f.child(order, "shipping_address")
    billing = f.child(order, "billing_address")
    default_address = f.child(customer, "default_address")
    region = (
        phone_region(shipping.get("country_code"))
        or phone_region(billing.get("country_code"))
        or phone_region(default_address.get("country_code"))
    )
    person = ctx.person()
    for value in (order.get("email"), order.get("contact_email"), customer.get("email")):
        person.add_email(value)
    person.add_phone(order.get("phone"), region)
    person.add_phone(customer.get("phone"), region)
    person.add_phone(shipping.get("phone"), shipping.get("country_code") or region)
    person.add_phone(billing.get("phone"), billing.get("country_code") or region)
    person.add_names(customer.get("first_name"), customer.get("last_name"))
    person.add_names(billing.get("first_name"), billing.get("last_name"))
    person.add_names(shipping.get("first_name"), shipping.get("last_name"))
    return person


def _order_stage(order: dict[str, Any], settings: ShopifyMapping) -> str | None:
    if order.get("cancelled_at"):
        return settings.cancelled_stage
    status = f.text(order.get("financial_status"))
    if status is None:
        return None
    return settings.financial_status_stages.get(status.lower())


def _order_fields(ctx: _Context, order: dict[str, Any], order_id: str, name: str) -> dict[str, Any]:
    shipping = f.child(order, "shipping_address")
    gateways = f.texts(order.get("payment_gateway_names"))
    presentment = f.child(f.child(order, "total_price_set"), "presentment_money")
    return {
        "shop_domain": ctx.shop,
        "shopify_order_id": order_id,
        "order_name": name,
        "order_number": f.text(order.get("order_number")),
        "financial_status": f.text(order.get("financial_status")),
        "fulfillment_status": f.text(order.get("fulfillment_status")),
        "payment_method": gateways[0] if gateways else None,
        "payment_gateways": gateways,
        "shipping_city": f.text(shipping.get("city")),
        "shipping_country": f.text(shipping.get("country_code")) or f.text(shipping.get("country")),
        "discount_codes": _discount_codes(order),
        "note_attributes": _note_attributes(order),
        "presentment_currency": normalize_currency(order.get("presentment_currency"))
        or normalize_currency(presentment.get("currency_code")),
        "presentment_total_price": money_amount(presentment.get("amount")),
        "refunded_amount": _order_refunded(order),
        "cancelled_at": f.text(order.get("cancelled_at")),
        "cancel_reason": f.text(order.get("cancel_reason")),
    }


def _discount_codes(body: dict[str, Any]) -> list[str]:
    return [code for d in f.records(body, "discount_codes") if (code := f.text(d.get("code")))]


def _note_attributes(order: dict[str, Any]) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    for item in f.records(order, "note_attributes"):
        key = f.text(item.get("name"))
        if key is not None:
            notes[key[:100]] = item.get("value")
    return notes


def _order_refunded(order: dict[str, Any]) -> Decimal | None:
    refunds = f.records(order, "refunds")
    if not refunds:
        return None
    return sum(
        (_refunded(refund) for refund in refunds),
        start=Decimal(0),
    )


def _refunded(refund: dict[str, Any]) -> Decimal:
    """What a refund object gave back: its successful `refund` transactions."""
    total = Decimal(0)
    for transaction in f.records(refund, "transactions"):
        if f.text(transaction.get("kind")) != "refund":
            continue
        if f.text(transaction.get("status")) not in (None, "success"):
            continue
        total += money_amount(transaction.get("amount")) or 0
    return total


def _products(body: dict[str, Any]) -> list[Product]:
    products = []
    for item in f.records(body, "line_items"):
        products.append(
            Product(
                name=f.text(item.get("name")) or f.text(item.get("title")),
                sku=f.text(item.get("sku")),
                quantity=money_amount(item.get("quantity")),
                unit_price=money_amount(item.get("price")),
            )
        )
    return products


def _refund(ctx: _Context) -> list[AnyCommand]:
    refund = ctx.body
    order_id = f.text(refund.get("order_id"))
    if order_id is None:
        raise MappingError("Shopify refund has no order_id")
    currencies = [t.get("currency") for t in f.records(refund, "transactions")]
    changes = DealUpdate(
        custom_fields=f.custom_fields(
            {
                "external_id": ctx.external_id("order", order_id),
                "last_refund_id": f.text(refund.get("id")),
                "last_refund_amount": _refunded(refund),
                "last_refund_currency": normalize_currency(currencies[0]) if currencies else None,
                "last_refund_at": f.text(refund.get("processed_at"))
                or f.text(refund.get("created_at")),
                "last_refund_note": normalize_description(refund.get("note")),
            }
        )
    )
    return [
        UpdateDeal(
            external_id=ctx.external_id("order", order_id),
            source_updated_at=f.timestamp(refund.get("created_at"))
            or f.timestamp(refund.get("processed_at")),
            changes=changes,
        )
    ]


# --- customers -------------------------------------------------------------


def _customer(ctx: _Context) -> list[AnyCommand]:
    customer = ctx.body
    customer_id = f.text(customer.get("id"))
    if customer_id is None:
        raise MappingError("Shopify customer has no id")
    address = f.child(customer, "default_address")
    person = ctx.person()
    person.add_email(customer.get("email"))
    person.add_phone(customer.get("phone"), address.get("country_code"))
    person.add_phone(address.get("phone"), address.get("country_code"))
    person.add_names(customer.get("first_name"), customer.get("last_name"))
    person.add_names(address.get("first_name"), address.get("last_name"))
    external_id = ctx.external_id("customer", customer_id)
    contact = person.contact(
        source=normalize_source(ctx.settings.source),
        tags=normalize_tags([*normalize_tags(customer.get("tags")), *ctx.settings.tags]) or None,
        opt_in_status=_marketing_consent(customer),
        description=normalize_description(customer.get("note")),
        custom_fields=f.custom_fields(
            {
                "external_id": external_id,
                "shop_domain": ctx.shop,
                "shopify_customer_id": customer_id,
                "city": f.text(address.get("city")),
                "country": f.text(address.get("country_code")) or f.text(address.get("country")),
                "orders_count": f.integer(customer.get("orders_count")),
                "total_spent": money_amount(customer.get("total_spent")),
                "currency": normalize_currency(customer.get("currency")),
                **person.raw_fields(),
            }
        ),
    )
    return [
        UpsertContact(
            external_id=external_id, source_updated_at=_updated_at(customer), contact=contact
        )
    ]


def _marketing_consent(customer: dict[str, Any]) -> bool | None:
    """Subscribed to email or SMS marketing; None when the payload does not say."""
    states = [
        f.text(f.child(customer, key).get("state"))
        for key in ("email_marketing_consent", "sms_marketing_consent")
    ]
    known = [state.lower() for state in states if state is not None]
    if known:
        return "subscribed" in known
    return f.boolean(customer.get("accepts_marketing"))


# --- abandoned checkouts ---------------------------------------------------


def _checkout(ctx: _Context) -> list[AnyCommand]:
    checkout = ctx.body
    token = f.text(checkout.get("token"))
    if token is None:
        raise MappingError("Shopify checkout has no token")
    if checkout.get("completed_at"):
        return []
    person = _order_person(ctx, checkout)
    if not person.reachable:
        return []
    external_id = ctx.external_id("checkout", token)
    name = f.text(checkout.get("name")) or token
    settings = ctx.settings
    all_tags = normalize_tags([*settings.tags, *settings.checkout_tags]) or None
    source = normalize_source(settings.source)
    lead = Lead(
        contact=person.contact(
            primary_only=True,
            source=source,
            tags=all_tags,
            opt_in_status=f.boolean(checkout.get("buyer_accepts_marketing")),
        ),
        deal=LeadDeal(
            title=render(settings.checkout_title, {"token": token, "name": name, "shop": ctx.shop}),
            value=money_amount(checkout.get("total_price")),
            currency=normalize_currency(checkout.get("currency")),
            stage=settings.checkout_stage,
            source=source,
            tags=all_tags,
            products=_products(checkout) or None,
            custom_fields=f.custom_fields(
                {
                    "external_id": external_id,
                    "shop_domain": ctx.shop,
                    "checkout_token": token,
                    "checkout_name": name,
                    "recovery_url": f.text(checkout.get("abandoned_checkout_url")),
                    "presentment_currency": normalize_currency(
                        checkout.get("presentment_currency")
                    ),
                    "discount_codes": _discount_codes(checkout),
                    **person.raw_fields(),
                }
            ),
        ),
    )
    return [CreateLead(external_id=external_id, source_updated_at=_updated_at(checkout), lead=lead)]


# --- privacy (mandatory compliance webhooks) -------------------------------


def _customer_redact(ctx: _Context) -> list[AnyCommand]:
    customer = f.child(ctx.body, "customer")
    customer_id = f.text(customer.get("id"))
    if customer_id is None:
        raise MappingError("Shopify customers/redact has no customer id")
    person = ctx.person()
    person.add_email(customer.get("email"))
    person.add_phone(customer.get("phone"))
    orders = f.texts(ctx.body.get("orders_to_redact"))
    return [
        RedactContact(
            external_id=ctx.external_id("customer", customer_id),
            emails=person.emails,
            phones=person.phones,
            deal_external_ids=[ctx.external_id("order", order) for order in orders],
        )
    ]


def _data_request(ctx: _Context) -> list[AnyCommand]:
    request_id = f.text(f.child(ctx.body, "data_request").get("id"))
    customer_id = f.text(f.child(ctx.body, "customer").get("id"))
    key = request_id or (f"customer-{customer_id}" if customer_id else None)
    if key is None:
        raise MappingError("Shopify customers/data_request has no request or customer id")
    return [
        RecordDataRequest(
            external_id=ctx.external_id("data_request", key),
            shop_domain=ctx.shop,
            orders_requested=f.texts(ctx.body.get("orders_requested")),
        )
    ]


def _shop_redact(ctx: _Context) -> list[AnyCommand]:
    return [ForgetShop(external_id=f"shopify:{ctx.shop}:shop"[:255], shop_domain=ctx.shop)]


def _updated_at(body: dict[str, Any]) -> datetime | None:
    return f.timestamp(body.get("updated_at")) or f.timestamp(body.get("created_at"))


_HANDLERS: dict[str, Callable[[_Context], list[AnyCommand]]] = {
    "orders/create": _order,
    "orders/updated": _order,
    "orders/paid": _order,
    "orders/cancelled": _order,
    "orders/fulfilled": _order,
    "refunds/create": _refund,
    "customers/create": _customer,
    "customers/update": _customer,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "customers/redact": _customer_redact,
    "customers/data_request": _data_request,
    "shop/redact": _shop_redact,
}
