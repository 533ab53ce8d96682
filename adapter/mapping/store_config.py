"""The `[mapping.woocommerce]`, `[mapping.salla]` and `[mapping.paymob]` tables.

[mapping.woocommerce]
status_stages = { processing = "proposal" }   # merged over the defaults
store_countries = { riyadh-oud = "SA" }       # {store} of the URL -> its country

[mapping.salla]
status_stages = { in_progress = "proposal" }  # keyed by the status `slug`

[mapping.paymob]
outcome_stages = { pending = "new" }
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from adapter.crm.normalize import phone_region
from adapter.mapping._tables import Stage, Table, over, title


def _region(value: str) -> str:
    region = phone_region(value)
    if region is None:
        raise ValueError(f"{value!r} is not a country code (ISO 3166, such as SA or EG)")
    return region


Region = Annotated[str, AfterValidator(_region)]

WOOCOMMERCE_TOPICS = ("order.created", "order.updated", "customer.created", "customer.updated")
SALLA_EVENTS = (
    "order.created",
    "order.updated",
    "order.status.updated",
    "customer.created",
    "customer.updated",
    "abandoned.cart",
)
# a signed WooCommerce or Salla body that was not a JSON object arrives as
# {UNREADABLE_BODY_KEY: text} (adapter.sources.body.read_signed): a MappingError
UNREADABLE_BODY_KEY = "unreadable_body"
# Paymob callback types; TOKEN (a saved card) has nothing for the CRM
PAYMOB_TYPES = ("TRANSACTION",)

# WooCommerce order statuses (wc_get_order_statuses, without the `wc-` prefix)
WOOCOMMERCE_STATUS_STAGES = {
    "pending": "new",
    # awaiting an offline payment (bank transfer, cash on delivery)
    "on-hold": "qualified",
    # paid, being fulfilled
    "processing": "won",
    "completed": "won",
    "cancelled": "lost",
    "refunded": "lost",
    "failed": "lost",
}
# Salla's built-in status slugs; a custom status keeps its parent's slug
SALLA_STATUS_STAGES = {
    "payment_pending": "new",
    "under_review": "qualified",
    "in_progress": "qualified",
    "completed": "won",
    "shipped": "won",
    "delivering": "won",
    "delivered": "won",
    "canceled": "lost",
    "restored": "lost",
}
# what a Paymob transaction came to (see adapter.mapping.paymob.outcome)
PAYMOB_OUTCOME_STAGES = {
    "success": "won",
    "pending": "qualified",
    "declined": "lost",
    "voided": "lost",
    "refunded": "lost",
    "partially_refunded": "won",
}


class WooCommerceMapping(Table):
    source: str = "woocommerce"
    tags: list[str] = Field(default_factory=lambda: ["woocommerce"])
    # placeholders: {number} (the order number customers see), {id}, {store}
    order_title: Annotated[str, title({"number", "id", "store"}, {"number", "id"})] = (
        "Order #{number}"
    )
    status_stages: Annotated[dict[str, Stage], over(WOOCOMMERCE_STATUS_STAGES)] = Field(
        default_factory=lambda: dict(WOOCOMMERCE_STATUS_STAGES)
    )
    # a store's country reads local phone numbers when the billing address names none
    store_countries: dict[str, Region] = Field(default_factory=dict)


class SallaMapping(Table):
    source: str = "salla"
    tags: list[str] = Field(default_factory=lambda: ["salla"])
    # placeholders: {reference_id} (the number merchants and customers see), {id}, {merchant}
    order_title: Annotated[
        str, title({"reference_id", "id", "merchant"}, {"reference_id", "id"})
    ] = "Salla order {reference_id}"
    status_stages: Annotated[dict[str, Stage], over(SALLA_STATUS_STAGES)] = Field(
        default_factory=lambda: dict(SALLA_STATUS_STAGES)
    )
    cart_title: Annotated[str, title({"id", "merchant"}, {"id"})] = "Abandoned cart {id}"
    cart_stage: Stage = "new"
    cart_tags: list[str] = Field(default_factory=lambda: ["abandoned-cart"])


class PaymobMapping(Table):
    source: str = "paymob"
    tags: list[str] = Field(default_factory=lambda: ["paymob"])
    # placeholders: {order_id} (Paymob's), {merchant_order_id} (the shop's, when it sent one)
    order_title: Annotated[
        str, title({"order_id", "merchant_order_id", "integration"}, {"order_id"})
    ] = "Paymob order {order_id}"
    outcome_stages: Annotated[dict[str, Stage], over(PAYMOB_OUTCOME_STAGES)] = Field(
        default_factory=lambda: dict(PAYMOB_OUTCOME_STAGES)
    )
    # digits after the decimal point of `amount_cents`, where not ISO 4217's
    currency_exponents: dict[str, Annotated[int, Field(ge=0, le=4)]] = Field(default_factory=dict)

    @field_validator("outcome_stages")
    @classmethod
    def _known_outcomes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(PAYMOB_OUTCOME_STAGES))
        if unknown:
            known = sorted(PAYMOB_OUTCOME_STAGES)
            raise ValueError(f"no such outcome {unknown}; outcomes: {known}")
        return value


def store_stages(
    woocommerce: WooCommerceMapping, salla: SallaMapping, paymob: PaymobMapping
) -> list[str]:
    """Every stage the three tables name, for MappingConfig's check against the pipeline."""
    return [
        *woocommerce.status_stages.values(),
        *salla.status_stages.values(),
        salla.cart_stage,
        *paymob.outcome_stages.values(),
    ]


def unknown_topics(woocommerce_topics: list[str], salla_events: list[str]) -> str | None:
    unknown = sorted(set(woocommerce_topics) - set(WOOCOMMERCE_TOPICS))
    if unknown:
        return f"woocommerce_topics: no mapping for {unknown}"
    unknown = sorted(set(salla_events) - set(SALLA_EVENTS))
    if unknown:
        return f"salla_events: no mapping for {unknown}"
    return None
