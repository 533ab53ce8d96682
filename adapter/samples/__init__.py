"""Small realistic payloads for `adapter send-test` and the dev-mode demo.

Shapes follow the providers' published samples; the people, phones and shops are
made up (an Egyptian customer ordering from a Riyadh shop, paying with mada in SAR).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# (source, topic) -> file in this package
SAMPLES: dict[tuple[str, str], str] = {
    ("shopify", "orders/create"): "shopify_order.json",
    ("shopify", "orders/updated"): "shopify_order.json",
    ("shopify", "orders/paid"): "shopify_order.json",
    ("shopify", "orders/cancelled"): "shopify_order.json",
    ("shopify", "orders/fulfilled"): "shopify_order.json",
    ("shopify", "refunds/create"): "shopify_refund.json",
    ("shopify", "customers/create"): "shopify_customer.json",
    ("shopify", "customers/update"): "shopify_customer.json",
    ("shopify", "checkouts/create"): "shopify_checkout.json",
    ("shopify", "checkouts/update"): "shopify_checkout.json",
    ("shopify", "customers/redact"): "shopify_customers_redact.json",
    ("shopify", "customers/data_request"): "shopify_customers_data_request.json",
    ("shopify", "shop/redact"): "shopify_shop_redact.json",
    ("stripe", "checkout.session.completed"): "stripe_checkout_session_completed.json",
    ("stripe", "checkout.session.async_payment_succeeded"): (
        "stripe_checkout_session_completed.json"
    ),
    ("stripe", "checkout.session.async_payment_failed"): "stripe_checkout_session_completed.json",
    ("stripe", "payment_intent.succeeded"): "stripe_payment_intent.json",
    ("stripe", "payment_intent.payment_failed"): "stripe_payment_intent.json",
    ("stripe", "charge.refunded"): "stripe_charge_refunded.json",
    ("stripe", "invoice.paid"): "stripe_invoice.json",
    ("stripe", "invoice.payment_succeeded"): "stripe_invoice.json",
    ("stripe", "invoice.payment_failed"): "stripe_invoice.json",
    ("stripe", "customer.created"): "stripe_customer.json",
    ("stripe", "customer.updated"): "stripe_customer.json",
    ("form", "submission"): "form_submission.json",
    ("woocommerce", "order.created"): "woocommerce_order.json",
    ("woocommerce", "order.updated"): "woocommerce_order.json",
    ("woocommerce", "customer.created"): "woocommerce_customer.json",
    ("woocommerce", "customer.updated"): "woocommerce_customer.json",
    ("salla", "order.created"): "salla_order.json",
    ("salla", "order.updated"): "salla_order.json",
    ("salla", "customer.created"): "salla_customer.json",
    ("salla", "customer.updated"): "salla_customer.json",
    ("salla", "abandoned.cart"): "salla_abandoned_cart.json",
    ("paymob", "TRANSACTION"): "paymob_transaction.json",
}

DEFAULT_TOPICS: dict[str, str] = {
    "shopify": "orders/create",
    "stripe": "checkout.session.completed",
    "form": "submission",
    "woocommerce": "order.created",
    "salla": "order.created",
    "paymob": "TRANSACTION",
}


class UnknownSample(LookupError):
    def __init__(self, source: str, topic: str) -> None:
        known = ", ".join(topics(source)) or "none"
        super().__init__(f"no sample for {source} topic {topic!r} (samples: {known})")


def topics(source: str) -> list[str]:
    return [topic for (src, topic) in SAMPLES if src == source]


def load_sample(source: str, topic: str | None = None) -> dict[str, Any]:
    """A fresh copy of the sample payload for `source` and `topic` (its default if None)."""
    topic = topic or DEFAULT_TOPICS[source]
    name = SAMPLES.get((source, topic))
    if name is None:
        raise UnknownSample(source, topic)
    payload: dict[str, Any] = json.loads(resources.files(__name__).joinpath(name).read_text())
    if source == "stripe":
        # one file serves the events of one object: the event type is the topic asked for
        payload["type"] = topic
    return payload
