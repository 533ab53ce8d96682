"""A verified webhook delivery, as ingestion stores it and workers map it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SourceName = Literal["shopify", "stripe", "form", "woocommerce", "salla", "paymob"]


class WebhookDelivery(BaseModel):
    """One genuine delivery: verified, parsed, deduplicated, queued as JSON.

    `payload` is the body's JSON object (a form's urlencoded fields become one).
    `headers` keeps only the provider's metadata headers, never a signature.
    """

    model_config = ConfigDict(extra="forbid")

    source: SourceName
    # Shopify topic (`orders/create`), Stripe event type, the form id, WooCommerce topic
    # (`order.created`), Salla event (`order.created`) or Paymob callback type (`TRANSACTION`)
    topic: str
    # the deduplication key: webhook id, event id, or a body hash
    delivery_id: str
    received_at: datetime
    # the store the delivery belongs to, which scopes its delivery id: the Shopify shop
    # domain, the WooCommerce store (from the URL), the Salla merchant id or the Paymob
    # integration (from the URL)
    shop_domain: str | None = None
    form_id: str | None = None
    headers: dict[str, str] = {}
    payload: dict[str, Any]
