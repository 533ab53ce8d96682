"""Salla webhooks: `POST /webhooks/salla`, under either of Salla's security strategies.

- Signature (Salla's default): `X-Salla-Signature` is the hex HMAC-SHA256 of the raw
  body, keyed by the app's webhook secret; `X-Salla-Security-Strategy: Signature`.
- Token: the webhook's static token in `Authorization: Bearer <token>`
  (`X-Salla-Security-Strategy: Token`).

A delivery passes if it carries either proof under any configured secret or token: the
global ones, or those of the merchant the envelope names (`merchant`). The merchant is
read from the body before the proof is checked only to choose the keys, as Shopify's
shop header is; a body we cannot read gets the global keys alone.

Salla sends no delivery id, and retries a failed delivery 3 times about 5 minutes apart
with the same body, so the body's hash is the delivery id. A signed body that is not a
JSON object is queued as it is, to be dead-lettered by the worker: a retry would not
bring a better one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from adapter.sources.body import body_digest
from adapter.sources.errors import VerificationError
from adapter.sources.signing import any_match, ascii_bytes, hmac_sha256
from adapter.store_settings import SallaMerchant
from adapter.webhook import WebhookDelivery

# looked up by lower-case name: pass Starlette's Headers, or a dict of its items
SIGNATURE_HEADER = "x-salla-signature"
STRATEGY_HEADER = "x-salla-security-strategy"
AUTHORIZATION_HEADER = "authorization"
BEARER = "bearer "

KEPT_HEADERS = {"X-Salla-Security-Strategy": STRATEGY_HEADER}


def merchant_hint(body: bytes) -> str | None:
    """The envelope's `merchant`, read without trusting it: only to choose the keys."""
    try:
        value = json.loads(body).get("merchant")
    except (ValueError, RecursionError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text or None


def keys(
    global_values: Sequence[SecretStr],
    merchants: Mapping[str, SallaMerchant],
    merchant: str | None,
    *,
    tokens: bool,
) -> list[bytes]:
    """The global secrets (or tokens), plus those of `merchant` when it has some."""
    values = list(global_values)
    own = merchants.get(merchant) if merchant is not None else None
    if own is not None:
        values.extend(own.tokens if tokens else own.secrets)
    return [value.get_secret_value().encode("utf-8") for value in values]


def sign(body: bytes, secret: bytes) -> str:
    """The `X-Salla-Signature` value Salla sends for this body."""
    return hmac_sha256(secret, body).hex()


def _offered_token(headers: Mapping[str, str]) -> bytes | None:
    value = headers.get(AUTHORIZATION_HEADER, "").strip()
    if value.lower().startswith(BEARER):
        value = value[len(BEARER) :].strip()
    return ascii_bytes(value) or None


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[bytes],
    tokens: Sequence[bytes],
) -> None:
    """Raise VerificationError unless a signature or a token matches a configured one.

    The strategy header is not trusted to choose the check: each proof offered is checked
    against its own kind of key, and one match is enough.
    """
    signature = ascii_bytes(headers.get(SIGNATURE_HEADER, "").strip().lower())
    token = _offered_token(headers)
    if not signature and token is None:
        raise VerificationError("missing or malformed X-Salla-Signature or Authorization header")
    matched = False
    if signature:
        expected = [sign(body, secret).encode("ascii") for secret in secrets]
        matched |= any_match(expected, [signature])
    if token is not None:
        matched |= any_match(list(tokens), [token])
    if not matched:
        raise VerificationError("signature or token does not match")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()[:100]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text or None


def identify(
    body: bytes, payload: dict[str, Any], headers: Mapping[str, str], received_at: datetime
) -> WebhookDelivery:
    """The delivery: its topic is the envelope's `event`, its store the `merchant`."""
    kept = {name: headers[key] for name, key in KEPT_HEADERS.items() if headers.get(key)}
    return WebhookDelivery(
        source="salla",
        topic=_text(payload.get("event")) or "",
        delivery_id=body_digest(body),
        received_at=received_at,
        shop_domain=_text(payload.get("merchant")),
        headers=kept,
        payload=payload,
    )
