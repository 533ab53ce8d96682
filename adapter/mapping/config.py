"""How sources map to CRM records: stage maps, titles, tags, phone region, topics.

Owned by the mapping layer; `adapter.settings` embeds it as the `[mapping]`
table of the config file:

    [mapping]
    default_phone_region = "SA"
    stages = ["new", "qualified", "proposal", "won", "lost"]
    shopify_topics = ["orders/create", "orders/paid", "customers/create"]

    [mapping.shopify]
    order_title = "Shopify order {name}"
    financial_status_stages = { pending = "new", paid = "won" }

    [mapping.stripe]
    ignore_test_mode = true

    [mapping.customers]
    guest_name = "Walk-in customer"

    [mapping.forms]
    title = "{form} - {person}"
    currency = "SAR"

Every stage named anywhere must be one of `stages` (the CRM pipeline's stage ids).
Stage maps are merged over the defaults, so a file names only what it changes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from adapter.crm.normalize import normalize_currency, phone_region
from adapter.mapping._tables import Stage
from adapter.mapping._tables import Table as _Table
from adapter.mapping._tables import over as _over
from adapter.mapping._tables import title as _title
from adapter.mapping.store_config import (
    SALLA_EVENTS,
    WOOCOMMERCE_TOPICS,
    PaymobMapping,
    SallaMapping,
    WooCommerceMapping,
    store_stages,
    unknown_topics,
)

DEFAULT_STAGES = ("new", "qualified", "proposal", "won", "lost")

SHOPIFY_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "refunds/create",
    "customers/create",
    "customers/update",
    "checkouts/create",
    "checkouts/update",
    "customers/redact",
    "customers/data_request",
    "shop/redact",
)

STRIPE_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "customer.created",
    "customer.updated",
)


FINANCIAL_STATUS_STAGES = {
    "pending": "new",
    "authorized": "qualified",
    "partially_paid": "qualified",
    "paid": "won",
    "partially_refunded": "won",
    "refunded": "lost",
    "voided": "lost",
}
SESSION_PAYMENT_STATUS_STAGES = {"paid": "won", "unpaid": "qualified", "no_payment_required": "won"}
EVENT_STAGES = {
    "checkout.session.async_payment_succeeded": "won",
    "checkout.session.async_payment_failed": "lost",
    "payment_intent.succeeded": "won",
    "payment_intent.payment_failed": "lost",
    "invoice.paid": "won",
    "invoice.payment_succeeded": "won",
    # Stripe keeps retrying a failed invoice, so the sale is still open
    "invoice.payment_failed": "qualified",
}


def _region(value: str) -> str:
    region = phone_region(value)
    if region is None:
        raise ValueError(f"{value!r} is not a phone region (an ISO 3166 code such as EG or SA)")
    return region


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    code = normalize_currency(value)
    if code is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


class ShopifyMapping(_Table):
    source: str = "shopify"
    tags: list[str] = Field(default_factory=lambda: ["shopify"])
    # placeholders: {name} (#1001), {order_number}, {id}, {shop}
    order_title: Annotated[
        str, _title({"name", "order_number", "id", "shop"}, {"name", "order_number", "id"})
    ] = "Order {name}"
    # merged over the defaults: name only the statuses to change
    financial_status_stages: Annotated[dict[str, Stage], _over(FINANCIAL_STATUS_STAGES)] = Field(
        default_factory=lambda: dict(FINANCIAL_STATUS_STAGES)
    )
    # an order with `cancelled_at` set, whatever its financial status
    cancelled_stage: Stage = "lost"
    # placeholders: {token}, {name}, {shop}
    checkout_title: Annotated[str, _title({"token", "name", "shop"}, {"token", "name"})] = (
        "Abandoned checkout {token}"
    )
    checkout_stage: Stage = "new"
    checkout_tags: list[str] = Field(default_factory=lambda: ["abandoned-checkout"])


class StripeMapping(_Table):
    source: str = "stripe"
    tags: list[str] = Field(default_factory=lambda: ["stripe"])
    # a sale keyed on its payment intent; {id} is the pi_... id
    payment_title: Annotated[str, _title({"id"}, {"id"})] = "Payment {id}"
    # a checkout session without a payment intent (e.g. subscriptions); {id} is cs_...
    session_title: Annotated[str, _title({"id"}, {"id"})] = "Checkout {id}"
    invoice_title: Annotated[str, _title({"number", "id"}, {"number", "id"})] = "Invoice {number}"
    # `checkout.session.completed` by the session's payment_status; merged over the defaults
    session_payment_status_stages: Annotated[
        dict[str, Stage], _over(SESSION_PAYMENT_STATUS_STAGES)
    ] = Field(default_factory=lambda: dict(SESSION_PAYMENT_STATUS_STAGES))
    # the other payment events by type; merged over the defaults
    event_stages: Annotated[dict[str, Stage], _over(EVENT_STAGES)] = Field(
        default_factory=lambda: dict(EVENT_STAGES)
    )
    full_refund_stage: Stage = "lost"
    # a partly refunded payment still went through
    partial_refund_stage: Stage = "won"
    # `livemode: false` events are answered 200 and dropped
    ignore_test_mode: bool = False
    # $0 invoices (trials, fully discounted) would be noise in the pipeline
    skip_zero_amount_invoices: bool = True

    @field_validator("event_stages")
    @classmethod
    def _known_events(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(EVENT_STAGES))
        if unknown:
            raise ValueError(f"no stage is set by {unknown}; events: {sorted(EVENT_STAGES)}")
        return value


class FormsMapping(_Table):
    # placeholders: {form} (the form's name), {form_id}, {person}, {submission}
    title: Annotated[str, _title({"form", "form_id", "person", "submission"}, set())] = (
        "{form}: {person}"
    )
    # currency of `deal.value` when the form does not send one
    currency: Annotated[str | None, AfterValidator(_currency)] = None


class CustomersMapping(_Table):
    """Who a sale is linked to when its payload names no person."""

    # a paid sale without email, phone or known customer goes to one guest contact per
    # shop or Stripe account; false: such a delivery is dead-lettered
    guest_sales: bool = True
    guest_name: Annotated[str, Field(min_length=1, max_length=100)] = "Guest customer"
    # tags of deals linked to the guest contact
    guest_tags: list[str] = Field(default_factory=lambda: ["guest"])
    # a payment whose Stripe customer no event has told us about yet waits this long
    # for the customer.* event (it often comes just after), then goes to the guest
    customer_wait_seconds: Annotated[float, Field(ge=0, le=86400)] = 300.0


class MappingConfig(_Table):
    default_phone_region: Annotated[str, AfterValidator(_region)] = "EG"
    stages: list[Stage] = Field(default_factory=lambda: list(DEFAULT_STAGES), min_length=1)
    shopify_topics: list[str] = Field(default_factory=lambda: list(SHOPIFY_TOPICS))
    stripe_events: list[str] = Field(default_factory=lambda: list(STRIPE_EVENTS))
    shopify: ShopifyMapping = Field(default_factory=ShopifyMapping)
    stripe: StripeMapping = Field(default_factory=StripeMapping)
    forms: FormsMapping = Field(default_factory=FormsMapping)
    woocommerce_topics: list[str] = Field(default_factory=lambda: list(WOOCOMMERCE_TOPICS))
    salla_events: list[str] = Field(default_factory=lambda: list(SALLA_EVENTS))
    woocommerce: WooCommerceMapping = Field(default_factory=WooCommerceMapping)
    salla: SallaMapping = Field(default_factory=SallaMapping)
    paymob: PaymobMapping = Field(default_factory=PaymobMapping)
    customers: CustomersMapping = Field(default_factory=CustomersMapping)

    @model_validator(mode="after")
    def _consistent(self) -> MappingConfig:
        unknown = sorted(set(self.shopify_topics) - set(SHOPIFY_TOPICS))
        if unknown:
            raise ValueError(f"shopify_topics: no mapping for {unknown}")
        unknown = sorted(set(self.stripe_events) - set(STRIPE_EVENTS))
        if unknown:
            raise ValueError(f"stripe_events: no mapping for {unknown}")
        problem = unknown_topics(self.woocommerce_topics, self.salla_events)
        if problem is not None:
            raise ValueError(problem)
        unknown_stages = sorted(set(self.used_stages()) - set(self.stages))
        if unknown_stages:
            raise ValueError(
                f"stage(s) {unknown_stages} are not among the pipeline stages {self.stages}"
            )
        return self

    def used_stages(self) -> list[str]:
        shopify, stripe = self.shopify, self.stripe
        return [
            *shopify.financial_status_stages.values(),
            shopify.cancelled_stage,
            shopify.checkout_stage,
            *stripe.session_payment_status_stages.values(),
            *stripe.event_stages.values(),
            stripe.full_refund_stage,
            stripe.partial_refund_stage,
            *store_stages(self.woocommerce, self.salla, self.paymob),
        ]
