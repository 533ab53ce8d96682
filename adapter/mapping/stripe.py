"""Stripe events (payload = the Event, `data.object` = what changed) into CRM commands.

A checkout session and its payment intent describe one sale, so both key the deal
on the payment intent (`stripe:pi:{pi}`, title `Payment {pi}`); a session without
one (subscriptions, setup) is `stripe:cs:{session}`. Invoices are
`stripe:invoice:{id}` titled by their number; customers `stripe:customer:{id}`.

Decisions:
- A payment, invoice or charge without any email or phone (Stripe often leaves them
  off) is linked to the contact of its Stripe customer (`customer`): the worker looks
  in the id map (`stripe:customer:{id}`, recorded when the customer event was sent),
  then searches `custom_fields->>stripe_customer_id`, waits a bounded time
  (`mapping.customers.customer_wait_seconds`) for the customer event, and then uses
  the guest contact of the account (`stripe:guest:{account}`). A succeeded payment
  intent without a customer waits likewise for its checkout session, then goes to the
  guest; a failed one or a refund without a customer only updates the deal by
  external id, as the deal is made by the sale's other events.
- A payment with contact details also sends a `CompleteContact`: the CRM links the
  deal to the contact it matches and leaves that contact untouched, so other emails,
  phones and a missing name are added after.
- `invoice.payment_succeeded` maps like `invoice.paid` (same external id: one deal).
- `charge.refunded`: a full refund (`refunded: true` or `amount_refunded >= amount`)
  moves the deal to `full_refund_stage` (lost); a partial one records
  `refunded_amount` and keeps it `partial_refund_stage` (won). A charge outside any
  payment intent has no deal here: no commands.
- `invoice.payment_failed` keeps the deal open (`qualified`): Stripe retries failed
  invoices, so the sale is not lost yet. Payment intents that belong to an invoice
  are left to the invoice events, so that one sale makes one deal.
- A customer without a valid email or phone still becomes a contact (name, Stripe id,
  country), found again by its external id, so that its payments link to it.

Amounts are in minor units; ISK and UGX are two-decimal in Stripe's API even though
ISO 4217 gives them none (Stripe keeps them so for backwards compatibility).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.crm.commands import AnyCommand, CustomerRef, UpdateDeal, UpsertContact, UpsertDeal
from adapter.crm.models import BulkDeal, DealUpdate, LeadDeal, Product
from adapter.crm.normalize import (
    minor_to_major,
    money_amount,
    normalize_currency,
    normalize_description,
    normalize_source,
    normalize_tags,
)
from adapter.mapping import _fields as f
from adapter.mapping._customers import completion, customer_deal, customer_ref
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig, StripeMapping
from adapter.mapping.errors import MappingError
from adapter.webhook import WebhookDelivery

_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF"}
    | {"XOF", "XPF"}
)
_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def stripe_exponent(currency: str) -> int:
    """Decimal places of Stripe's API amounts in a currency (docs.stripe.com/currencies)."""
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def _major(amount: Any, currency: str) -> Decimal | None:
    """A Stripe amount (minor units) as a deal value in major units, or None."""
    return money_amount(minor_to_major(amount, currency, {currency: stripe_exponent(currency)}))


@dataclass(frozen=True)
class _Context:
    topic: str
    obj: dict[str, Any]
    created: datetime | None
    config: MappingConfig
    # the connected account of a Connect event; None: the platform's own
    account: str | None = None

    @property
    def settings(self) -> StripeMapping:
        return self.config.stripe

    def person(self) -> Person:
        return Person(default_region=self.config.default_phone_region)

    def amount(self, key: str) -> tuple[Decimal | None, str | None]:
        """An amount field in major units, with the object's currency (upper-cased)."""
        code = normalize_currency(self.obj.get("currency"))
        if code is None:
            return None, None
        return _major(self.obj.get(key), code), code


def map_delivery(delivery: WebhookDelivery, config: MappingConfig) -> list[AnyCommand]:
    handler = _HANDLERS.get(delivery.topic)
    if handler is None:
        return []
    event = delivery.payload
    obj = f.child(f.child(event, "data"), "object")
    if not obj:
        raise MappingError(f"Stripe event {delivery.topic} has no data.object")
    ctx = _Context(
        topic=delivery.topic,
        obj=obj,
        created=f.timestamp(event.get("created")),
        config=config,
        account=f.text(event.get("account")),
    )
    return handler(ctx)


# --- payments: checkout sessions, payment intents, refunds -----------------


def _session(ctx: _Context) -> list[AnyCommand]:
    session = ctx.obj
    session_id = f.text(session.get("id"))
    if session_id is None:
        raise MappingError("Stripe checkout session has no id")
    intent_id = f.ident(session.get("payment_intent"))
    if ctx.topic == "checkout.session.completed":
        status = f.text(session.get("payment_status"))
        stage = ctx.settings.session_payment_status_stages.get(status.lower()) if status else None
    else:
        stage = ctx.settings.event_stages.get(ctx.topic)
    details = f.child(session, "customer_details")
    person = ctx.person()
    person.add_email(details.get("email"))
    person.add_email(session.get("customer_email"))
    person.add_phone(details.get("phone"), f.child(details, "address").get("country"))
    person.add_full_name(details.get("name"))
    value, currency = ctx.amount("amount_total")
    fields = {
        "stripe_checkout_session_id": session_id,
        "stripe_payment_intent_id": intent_id,
        "stripe_customer_id": f.ident(session.get("customer")),
        "stripe_subscription_id": f.ident(session.get("subscription")),
        "payment_status": f.text(session.get("payment_status")),
        "checkout_mode": f.text(session.get("mode")),
        "client_reference_id": f.text(session.get("client_reference_id")),
    }
    if intent_id is not None:
        return _payment(ctx, intent_id, person, stage, value, currency, fields)
    external_id = f"stripe:cs:{session_id}"[:255]
    title = render(ctx.settings.session_title, {"id": session_id})
    return _upsert(ctx, external_id, title, person, stage, value, currency, fields, "session")


def _intent(ctx: _Context) -> list[AnyCommand]:
    intent = ctx.obj
    intent_id = f.text(intent.get("id"))
    if intent_id is None:
        raise MappingError("Stripe payment intent has no id")
    if intent.get("invoice"):
        return []
    person = ctx.person()
    person.add_email(intent.get("receipt_email"))
    shipping = f.child(intent, "shipping")
    person.add_phone(shipping.get("phone"), f.child(shipping, "address").get("country"))
    person.add_full_name(shipping.get("name"))
    for charge in _charges(intent):
        _add_billing_details(person, charge)
    value, currency = ctx.amount("amount")
    error = f.child(intent, "last_payment_error")
    fields = {
        "stripe_payment_intent_id": intent_id,
        "stripe_customer_id": f.ident(intent.get("customer")),
        "payment_status": f.text(intent.get("status")),
        "failure_code": f.text(error.get("code")),
        "failure_message": normalize_description(error.get("message")),
    }
    stage = ctx.settings.event_stages.get(ctx.topic)
    return _payment(ctx, intent_id, person, stage, value, currency, fields)


def _charges(intent: dict[str, Any]) -> list[dict[str, Any]]:
    """The intent's charges when the payload carries them (older API versions, expansion)."""
    charges = f.records(f.child(intent, "charges"), "data")
    latest = intent.get("latest_charge")
    if isinstance(latest, dict):
        charges.append(latest)
    return charges


def _add_billing_details(person: Person, charge: dict[str, Any]) -> None:
    billing = f.child(charge, "billing_details")
    person.add_email(billing.get("email"))
    person.add_email(charge.get("receipt_email"))
    person.add_phone(billing.get("phone"), f.child(billing, "address").get("country"))
    person.add_full_name(billing.get("name"))


def _refund(ctx: _Context) -> list[AnyCommand]:
    charge = ctx.obj
    intent_id = f.ident(charge.get("payment_intent"))
    if intent_id is None:
        return []
    person = ctx.person()
    _add_billing_details(person, charge)
    value, currency = ctx.amount("amount")
    refunded, _ = ctx.amount("amount_refunded")
    full = charge.get("refunded") is True or (
        value is not None and refunded is not None and refunded >= value
    )
    stage = ctx.settings.full_refund_stage if full else ctx.settings.partial_refund_stage
    fields = {
        "stripe_charge_id": f.text(charge.get("id")),
        "stripe_payment_intent_id": intent_id,
        "stripe_customer_id": f.ident(charge.get("customer")),
        "refunded_amount": refunded,
        "refund_status": "full" if full else "partial",
    }
    return _payment(ctx, intent_id, person, stage, value, currency, fields)


def _payment(
    ctx: _Context,
    intent_id: str,
    person: Person,
    stage: str | None,
    value: Decimal | None,
    currency: str | None,
    fields: dict[str, Any],
) -> list[AnyCommand]:
    """The sale's deal, keyed on its payment intent: upserted, or only updated when neither
    a person nor a customer is known and the event does not say it was paid."""
    external_id = f"stripe:pi:{intent_id}"[:255]
    paid = ctx.topic in _PAID
    if person.reachable or fields.get("stripe_customer_id") or paid:
        title = render(ctx.settings.payment_title, {"id": intent_id})
        return _upsert(ctx, external_id, title, person, stage, value, currency, fields, "payment")
    changes = DealUpdate(
        stage=stage,
        value=value,
        currency=currency,
        custom_fields=_custom_fields(ctx, external_id, fields, person),
    )
    return [UpdateDeal(external_id=external_id, source_updated_at=ctx.created, changes=changes)]


def _upsert(
    ctx: _Context,
    external_id: str,
    title: str,
    person: Person,
    stage: str | None,
    value: Decimal | None,
    currency: str | None,
    fields: dict[str, Any],
    what: str,
    products: list[Product] | None = None,
) -> list[AnyCommand]:
    """The deal on the person's contact, or on their Stripe customer's (see `_customer_of`)."""
    row = {
        "title": title,
        "value": value,
        "currency": currency,
        "stage": stage,
        "source": normalize_source(ctx.settings.source),
        "tags": normalize_tags(ctx.settings.tags) or None,
        "products": products or None,
        "custom_fields": _custom_fields(ctx, external_id, fields, person),
    }
    if not person.reachable:
        customer = _customer_of(ctx, fields.get("stripe_customer_id"), f"Stripe {what}")
        return [customer_deal(external_id, ctx.created, LeadDeal(**row), customer)]
    deal = BulkDeal(**row, **person.deal_contact(f"Stripe {what}"))
    return [
        UpsertDeal(external_id=external_id, source_updated_at=ctx.created, deal=deal),
        *completion(person, external_id, ctx.created),
    ]


def _customer_of(ctx: _Context, customer_id: str | None, what: str) -> CustomerRef:
    return customer_ref(
        ctx.config,
        what,
        guest_external_id=f"stripe:guest:{ctx.account or 'platform'}",
        guest_source=ctx.settings.source,
        contact_external_id=_customer_external_id(customer_id) if customer_id else None,
        search_field="stripe_customer_id",
        search_value=customer_id,
        # a paid intent without a customer: its checkout session may still bring one
        wait=customer_id is not None or ctx.topic == "payment_intent.succeeded",
    )


def _customer_external_id(customer_id: str) -> str:
    return f"stripe:customer:{customer_id}"[:255]


def _custom_fields(
    ctx: _Context, external_id: str, fields: dict[str, Any], person: Person
) -> dict[str, Any]:
    """Stripe metadata first, so that our own keys win a clash."""
    return f.custom_fields(
        {
            **_metadata(ctx.obj),
            "external_id": external_id,
            **fields,
            "livemode": f.boolean(ctx.obj.get("livemode")),
            **person.raw_fields(),
        }
    )


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in f.child(obj, "metadata").items() if isinstance(key, str)}


# --- invoices --------------------------------------------------------------


def _invoice(ctx: _Context) -> list[AnyCommand]:
    invoice = ctx.obj
    invoice_id = f.text(invoice.get("id"))
    if invoice_id is None:
        raise MappingError("Stripe invoice has no id")
    paid = ctx.topic in ("invoice.paid", "invoice.payment_succeeded")
    value, currency = ctx.amount("amount_paid" if paid else "amount_due")
    if paid and ctx.settings.skip_zero_amount_invoices and value == 0:
        return []
    number = f.text(invoice.get("number"))
    person = ctx.person()
    person.add_email(invoice.get("customer_email"))
    person.add_phone(
        invoice.get("customer_phone"), f.child(invoice, "customer_address").get("country")
    )
    person.add_full_name(invoice.get("customer_name"))
    fields = {
        "stripe_invoice_id": invoice_id,
        "invoice_number": number,
        "stripe_customer_id": f.ident(invoice.get("customer")),
        "stripe_subscription_id": f.ident(invoice.get("subscription")),
        "stripe_payment_intent_id": f.ident(invoice.get("payment_intent")),
        "billing_reason": f.text(invoice.get("billing_reason")),
        "hosted_invoice_url": f.text(invoice.get("hosted_invoice_url")),
        "attempt_count": f.integer(invoice.get("attempt_count")),
        "payment_failed": None if paid else True,
    }
    title = render(ctx.settings.invoice_title, {"number": number or invoice_id, "id": invoice_id})
    return _upsert(
        ctx,
        f"stripe:invoice:{invoice_id}"[:255],
        title,
        person,
        ctx.settings.event_stages.get(ctx.topic),
        value,
        currency,
        fields,
        "invoice",
        products=_invoice_lines(ctx, currency),
    )


def _invoice_lines(ctx: _Context, currency: str | None) -> list[Product]:
    if currency is None:
        return []
    exponent = stripe_exponent(currency)
    products = []
    for line in f.records(f.child(ctx.obj, "lines"), "data"):
        quantity = f.integer(line.get("quantity"))
        unit_price = _major(f.child(line, "price").get("unit_amount"), currency)
        if unit_price is None and quantity:
            amount = _major(line.get("amount"), currency)
            if amount is not None and quantity > 0:
                unit_price = money_amount(
                    (amount / quantity).quantize(Decimal(1).scaleb(-exponent))
                )
        products.append(
            Product(
                name=f.text(line.get("description")),
                quantity=money_amount(quantity),
                unit_price=unit_price,
            )
        )
    return products


# --- customers -------------------------------------------------------------


def _customer(ctx: _Context) -> list[AnyCommand]:
    customer = ctx.obj
    customer_id = f.text(customer.get("id"))
    if customer_id is None:
        raise MappingError("Stripe customer has no id")
    address = f.child(customer, "address")
    person = ctx.person()
    person.add_email(customer.get("email"))
    person.add_phone(customer.get("phone"), address.get("country"))
    person.add_full_name(customer.get("name"))
    external_id = _customer_external_id(customer_id)
    contact = person.contact(
        source=normalize_source(ctx.settings.source),
        tags=normalize_tags(ctx.settings.tags) or None,
        description=normalize_description(customer.get("description")),
        custom_fields=f.custom_fields(
            {
                **_metadata(customer),
                "external_id": external_id,
                "stripe_customer_id": customer_id,
                "city": f.text(address.get("city")),
                "country": f.text(address.get("country")),
                "livemode": f.boolean(customer.get("livemode")),
                **person.raw_fields(),
            }
        ),
    )
    return [UpsertContact(external_id=external_id, source_updated_at=ctx.created, contact=contact)]


_PAID = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
    }
)

_HANDLERS: dict[str, Callable[[_Context], list[AnyCommand]]] = {
    "checkout.session.completed": _session,
    "checkout.session.async_payment_succeeded": _session,
    "checkout.session.async_payment_failed": _session,
    "payment_intent.succeeded": _intent,
    "payment_intent.payment_failed": _intent,
    "charge.refunded": _refund,
    "invoice.paid": _invoice,
    "invoice.payment_succeeded": _invoice,
    "invoice.payment_failed": _invoice,
    "customer.created": _customer,
    "customer.updated": _customer,
}
