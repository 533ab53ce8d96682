"""Sign a delivery exactly as each provider does, for send-test, dev mode, tests and benches.

The verifiers live in `adapter.sources`; these are their mirror image and share no
code with them, so a test that signs here and verifies there checks both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime

from standardwebhooks import Webhook

from adapter.settings import FormAuth

SHOPIFY_API_VERSION = "2026-07"
FORM_HMAC_HEADER = "X-Signature"
FORM_TOKEN_HEADER = "X-Form-Token"  # noqa: S105 - a header name, not a secret


def shopify_hmac(body: bytes, secret: str) -> str:
    """Base64 HMAC-SHA256 of the raw body: the `X-Shopify-Hmac-Sha256` value."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def shopify_headers(
    body: bytes,
    secret: str,
    topic: str,
    shop_domain: str,
    *,
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    api_version: str = SHOPIFY_API_VERSION,
) -> dict[str, str]:
    """Every header a Shopify HTTPS delivery carries; fresh ids unless given."""
    when = triggered_at or datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_hmac(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": when.isoformat().replace("+00:00", "Z"),
        "X-Shopify-API-Version": api_version,
    }


def stripe_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, keyed by the whole secret."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": stripe_signature(body, secret, timestamp),
    }


def new_stripe_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:24]


def standard_webhooks_headers(
    body: bytes, secret: str, msg_id: str | None = None, timestamp: datetime | None = None
) -> dict[str, str]:
    """webhook-id / webhook-timestamp / webhook-signature, signed with a `whsec_` secret."""
    when = timestamp or datetime.now(UTC)
    msg = msg_id or "msg_" + uuid.uuid4().hex
    signature = Webhook(secret).sign(msg_id=msg, timestamp=when, data=body.decode())
    return {
        "Content-Type": "application/json",
        "webhook-id": msg,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def hmac_signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`, the `X-Signature` convention."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def form_headers(body: bytes, auth: FormAuth, secret: str | None = None) -> dict[str, str]:
    """Headers a form tool configured with `auth` would send; the first secret by default."""
    key = secret if secret is not None else auth.secrets[0].get_secret_value()
    if auth.kind == "standard_webhooks":
        return standard_webhooks_headers(body, key)
    if auth.kind == "hmac":
        return {
            "Content-Type": "application/json",
            auth.header or FORM_HMAC_HEADER: hmac_signature(body, key),
        }
    return {"Content-Type": "application/json", auth.header or FORM_TOKEN_HEADER: key}


def woocommerce_headers(
    body: bytes,
    secret: str,
    topic: str,
    *,
    source_url: str = "https://store.example.sa/",
    webhook_id: int = 1,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """The headers of a WooCommerce delivery: base64 HMAC-SHA256 of the body."""
    resource, _, event = topic.partition(".")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": source_url,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
    }


def salla_signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """Salla's Signature strategy: hex HMAC-SHA256 of the body."""
    return {
        "Content-Type": "application/json",
        "X-Salla-Security-Strategy": "Signature",
        "X-Salla-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def salla_token_headers(token: str) -> dict[str, str]:
    """Salla's Token strategy: the webhook's token as a bearer token."""
    return {
        "Content-Type": "application/json",
        "X-Salla-Security-Strategy": "Token",
        "Authorization": f"Bearer {token}",
    }


# the transaction callback's signed fields, in Paymob's documented (lexicographic)
# order; the verifier (adapter.sources.paymob) reads the same list
PAYMOB_TRANSACTION_FIELDS = (
    "amount_cents",
    "created_at",
    "currency",
    "error_occured",
    "has_parent_transaction",
    "id",
    "integration_id",
    "is_3d_secure",
    "is_auth",
    "is_capture",
    "is_refunded",
    "is_standalone_payment",
    "is_voided",
    "order.id",
    "owner",
    "pending",
    "source_data.pan",
    "source_data.sub_type",
    "source_data.type",
    "success",
)


def _paymob_text(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def paymob_hmac(transaction: dict[str, object], secret: str) -> str:
    """The `hmac` query parameter of a transaction processed callback for `obj`."""
    values = []
    for name in PAYMOB_TRANSACTION_FIELDS:
        value: object = transaction
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else value
        values.append(_paymob_text(value))
    message = "".join(values).encode()
    return hmac.new(secret.encode(), message, hashlib.sha512).hexdigest()
