"""Requests signed the way each provider signs them, by their own schemes and packages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import stripe
from standardwebhooks import Webhook

from tests.app.conftest import FORM_HMAC_SECRETS, SHOPIFY_SECRETS, STRIPE_SECRETS, SW_SECRETS


def shopify_headers(
    body: bytes,
    topic: str = "orders/create",
    secret: str = SHOPIFY_SECRETS[0],
    shop: str = "store.myshopify.com",
    webhook_id: str | None = None,
) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-28T10:00:00.000Z",
        "X-Shopify-API-Version": "2026-07",
    }


def stripe_headers(
    body: bytes, secret: str = STRIPE_SECRETS[0], timestamp: int | None = None
) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=timestamp
    )
    return {"Content-Type": "application/json", "Stripe-Signature": str(header)}


def form_hmac_headers(
    body: bytes,
    content_type: str = "application/json",
    secret: str = FORM_HMAC_SECRETS[0],
) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Signature": f"sha256={signature}"}


def standard_webhooks_headers(
    body: bytes, secret: str = SW_SECRETS[0], msg_id: str | None = None
) -> dict[str, str]:
    now = datetime.now(UTC)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def unique_stripe_event(body: bytes) -> bytes:
    """The fixture with a fresh event id, every other byte as published."""
    return body.replace(b"evt_000000000000000000000000", f"evt_{uuid.uuid4().hex[:24]}".encode())
