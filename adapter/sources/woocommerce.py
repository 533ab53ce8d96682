"""WooCommerce webhooks: `POST /webhooks/woocommerce/{store}`.

`X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the raw body, keyed by the
webhook's secret (WC_Webhook::generate_signature). Any configured secret of the store,
or a global one, may match: that is how rotation works.

When a webhook is saved, WooCommerce pings its URL once with the form body
`webhook_id=<id>`, unsigned, and activates the webhook only on an HTTP 200. The ping
is answered 200 and nothing is stored.

WooCommerce counts every answer outside 2xx/301/302 as a failure and disables the
webhook after more than 5 in a row (WC_Webhook::failed_delivery), so a delivery that
carries a valid signature is never answered 4xx: a topic we do not map is answered
200 "ignored", and a signed body we cannot read is queued as it is, to be dead-lettered
by the worker and kept for replay.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from adapter.sources.body import body_digest
from adapter.sources.errors import VerificationError
from adapter.sources.signing import any_match, ascii_bytes, hmac_sha256
from adapter.store_settings import WooCommerceStore
from adapter.webhook import WebhookDelivery

# looked up by lower-case name: pass Starlette's Headers, or a dict of its items
SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
RESOURCE_HEADER = "x-wc-webhook-resource"
EVENT_HEADER = "x-wc-webhook-event"
DELIVERY_ID_HEADER = "x-wc-webhook-delivery-id"

KEPT_HEADERS = {
    name: name.lower()
    for name in (
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Resource",
        "X-WC-Webhook-Event",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
    )
}


_PING = re.compile(rb"webhook_id=[0-9]{1,20}")


def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
    """WooCommerce's creation ping: `webhook_id=<id>` and no signature."""
    signed = headers.get(SIGNATURE_HEADER, "").strip() != ""
    return not signed and _PING.fullmatch(body.strip()) is not None


def signing_keys(
    global_secrets: Sequence[SecretStr], store: WooCommerceStore | None
) -> list[bytes]:
    secrets = [*global_secrets, *(store.secrets if store is not None else [])]
    return [secret.get_secret_value().encode("utf-8") for secret in secrets]


def sign(body: bytes, secret: bytes) -> str:
    """The `X-WC-Webhook-Signature` value WooCommerce sends for this body."""
    return base64.b64encode(hmac_sha256(secret, body)).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> None:
    """Raise VerificationError unless the signature matches the body under any secret."""
    offered = ascii_bytes(headers.get(SIGNATURE_HEADER, "").strip())
    if not offered:
        raise VerificationError("missing or malformed X-WC-Webhook-Signature header")
    expected = [sign(body, secret).encode("ascii") for secret in secrets]
    if not any_match(expected, [offered]):
        raise VerificationError("signature does not match")


def topic_of(headers: Mapping[str, str]) -> str:
    """`order.created`: the topic header, else resource and event; "" when neither."""
    topic = headers.get(TOPIC_HEADER, "").strip()
    if topic:
        return topic
    resource = headers.get(RESOURCE_HEADER, "").strip()
    event = headers.get(EVENT_HEADER, "").strip()
    return f"{resource}.{event}" if resource and event else ""


def identify(
    store: str,
    body: bytes,
    payload: dict[str, Any],
    headers: Mapping[str, str],
    received_at: datetime,
) -> WebhookDelivery:
    """The delivery, keyed by its delivery id and the body's hash.

    WooCommerce's delivery id is `wp_hash(webhook id . current second)`: two deliveries
    of one webhook within the same second share it, so it alone would drop the second
    one as a duplicate. With the body's hash added, only an exact redelivery is one.
    """
    delivery_id = headers.get(DELIVERY_ID_HEADER, "").strip()[:100]
    digest = body_digest(body)
    kept = {name: headers[key] for name, key in KEPT_HEADERS.items() if headers.get(key)}
    return WebhookDelivery(
        source="woocommerce",
        topic=topic_of(headers),
        delivery_id=f"{delivery_id}:{digest}" if delivery_id else digest,
        received_at=received_at,
        shop_domain=store,
        headers=kept,
        payload=payload,
    )
