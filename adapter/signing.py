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
