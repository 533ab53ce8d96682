"""Shopify webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body.

Several secrets can be valid at once: after a rotation Shopify takes up to an hour to
switch, and webhooks made in the store admin are signed with a different key than the
app's client secret. A shop may also have secrets of its own, tried with the global ones.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from adapter.sources.body import body_digest
from adapter.sources.errors import InvalidPayload, VerificationError
from adapter.sources.signing import any_match, ascii_bytes, hmac_sha256
from adapter.webhook import WebhookDelivery

# `headers` arguments are looked up by lower-case name: pass Starlette's Headers,
# or a dict of its items
HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
SHOP_HEADER = "x-shopify-shop-domain"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
EVENT_ID_HEADER = "x-shopify-event-id"

# metadata kept with the delivery, under Shopify's spelling; never the HMAC
KEPT_HEADERS = {
    name: name.lower()
    for name in (
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
        "X-Shopify-API-Version",
    )
}

# the mandatory privacy webhooks, answered 200 rather than 202
PRIVACY_TOPICS = frozenset({"customers/redact", "customers/data_request", "shop/redact"})


def shop_domain(headers: Mapping[str, str]) -> str | None:
    value = headers.get(SHOP_HEADER, "").strip().lower()
    return value or None


def signing_keys(
    global_secrets: Sequence[SecretStr],
    shop_secrets: Mapping[str, Sequence[SecretStr]],
    shop: str | None,
) -> list[bytes]:
    """The global secrets, plus that shop's own when it has some."""
    secrets = list(global_secrets)
    if shop is not None:
        for domain, extra in shop_secrets.items():
            if domain.strip().lower() == shop:
                secrets.extend(extra)
    return [secret.get_secret_value().encode("utf-8") for secret in secrets]


def sign(body: bytes, secret: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for this body."""
    return base64.b64encode(hmac_sha256(secret, body)).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> None:
    """Raise VerificationError unless the HMAC header matches the body under any secret."""
    offered = ascii_bytes(headers.get(HMAC_HEADER, "").strip())
    if not offered:
        raise VerificationError("missing or malformed X-Shopify-Hmac-Sha256 header")
    expected = [sign(body, secret).encode("ascii") for secret in secrets]
    if not any_match(expected, [offered]):
        raise VerificationError("signature does not match")


def identify(
    body: bytes, payload: dict[str, Any], headers: Mapping[str, str], received_at: datetime
) -> WebhookDelivery:
    """The delivery, keyed by its webhook id (else event id + topic, else the body's hash)."""
    topic = headers.get(TOPIC_HEADER, "").strip()
    if not topic:
        raise InvalidPayload("missing X-Shopify-Topic header")
    webhook_id = headers.get(WEBHOOK_ID_HEADER, "").strip()
    event_id = headers.get(EVENT_ID_HEADER, "").strip()
    if webhook_id:
        delivery_id = webhook_id
    elif event_id:
        delivery_id = f"{event_id}:{topic}"
    else:
        delivery_id = body_digest(body)
    kept = {name: headers[key] for name, key in KEPT_HEADERS.items() if headers.get(key)}
    return WebhookDelivery(
        source="shopify",
        topic=topic,
        delivery_id=delivery_id,
        received_at=received_at,
        shop_domain=shop_domain(headers),
        headers=kept,
        payload=payload,
    )
