"""Signed sample deliveries of WooCommerce, Salla and Paymob for `adapter send-test`.

Each builder answers the path to post to, the headers and the body, as the provider
would send them; `StoreSampleError` says why one cannot be built.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from adapter import samples, signing
from adapter.settings import Settings

SOURCES = ("woocommerce", "salla", "paymob")
DEFAULT_STORE = "riyadh-oud"
DEFAULT_INTEGRATION = "4097558"

Built = tuple[str, dict[str, str], bytes]


class StoreSampleError(Exception):
    pass


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _first(values: list[Any], what: str) -> str:
    if not values:
        raise StoreSampleError(f"{what} is empty: pass --secret")
    return str(values[0].get_secret_value())


def build(
    settings: Settings,
    source: str,
    *,
    topic: str | None,
    secret: str | None,
    store: str | None,
    payload: dict[str, Any] | None,
) -> Built:
    if source == "woocommerce":
        return _woocommerce(settings, topic, secret, store, payload)
    if source == "salla":
        return _salla(settings, topic, secret, payload)
    return _paymob(settings, secret, store, payload)


def _woocommerce(
    settings: Settings,
    topic: str | None,
    secret: str | None,
    store: str | None,
    payload: dict[str, Any] | None,
) -> Built:
    topic = topic or samples.DEFAULT_TOPICS["woocommerce"]
    store = store or next(iter(settings.woocommerce_stores), DEFAULT_STORE)
    body = _encode(payload if payload is not None else samples.load_sample("woocommerce", topic))
    if secret is None:
        own = settings.woocommerce_stores.get(store)
        configured = [*settings.woocommerce_webhook_secrets, *(own.secrets if own else [])]
        secret = _first(configured, "WOOCOMMERCE_WEBHOOK_SECRETS")
    headers = signing.woocommerce_headers(body, secret, topic)
    return f"/webhooks/woocommerce/{store}", headers, body


def _salla(
    settings: Settings, topic: str | None, secret: str | None, payload: dict[str, Any] | None
) -> Built:
    if payload is None:
        payload = samples.load_sample("salla", topic)
    if topic:
        payload["event"] = topic
    payload["created_at"] = time.strftime("%a %b %d %Y %H:%M:%S GMT+0000", time.gmtime())
    # Salla's delivery id is the body's hash: a field of our own makes each send a new one
    payload["send_test_id"] = uuid.uuid4().hex
    body = _encode(payload)
    if secret is not None:
        return "/webhooks/salla", signing.salla_signature_headers(body, secret), body
    if settings.salla_webhook_secrets:
        key = _first(settings.salla_webhook_secrets, "SALLA_WEBHOOK_SECRETS")
        return "/webhooks/salla", signing.salla_signature_headers(body, key), body
    token = _first(settings.salla_webhook_tokens, "SALLA_WEBHOOK_SECRETS and SALLA_WEBHOOK_TOKENS")
    return "/webhooks/salla", signing.salla_token_headers(token), body


def _paymob(
    settings: Settings, secret: str | None, integration: str | None, payload: dict[str, Any] | None
) -> Built:
    integration = integration or next(iter(settings.paymob_integrations), DEFAULT_INTEGRATION)
    if payload is None:
        payload = samples.load_sample("paymob")
        # a new transaction each time, or the adapter would drop it as a duplicate
        payload["obj"]["id"] = uuid.uuid4().int % 10**9
    if secret is None:
        own = settings.paymob_integrations.get(integration)
        configured = [*settings.paymob_hmac_secrets, *(own.secrets if own else [])]
        secret = _first(configured, "PAYMOB_HMAC_SECRETS")
    obj = payload.get("obj")
    if not isinstance(obj, dict):
        raise StoreSampleError("a Paymob payload needs its transaction under `obj`")
    digest = signing.paymob_hmac(obj, secret)
    headers = {"Content-Type": "application/json"}
    return f"/webhooks/paymob/{integration}?hmac={digest}", headers, _encode(payload)
