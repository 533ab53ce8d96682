"""Stripe webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=<hex>]`.

Each `v1` is the hex HMAC-SHA256 of `"{t}.{raw body}"`; during a secret roll Stripe signs
with both secrets, so any `v1` matching any configured secret passes. `v0` is a legacy
test-mode scheme and is ignored. The timestamp must be within the tolerance in both
directions: an old one is a replay, a future one is a forgery or a broken clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adapter.sources.errors import InvalidPayload, StaleTimestamp, VerificationError
from adapter.sources.signing import any_match, ascii_bytes, hmac_sha256
from adapter.webhook import WebhookDelivery

# looked up by lower-case name: pass Starlette's Headers, or a dict of its items
SIGNATURE_HEADER = "stripe-signature"
_NAME = "Stripe-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _parse_header(value: str) -> tuple[int, list[bytes]]:
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in value.split(","):
        key, sep, part = item.strip().partition("=")
        if not sep:
            raise VerificationError(f"malformed {_NAME} header")
        if key == "t":
            timestamps.append(part)
        elif key == "v1":
            encoded = ascii_bytes(part.strip().lower())
            if encoded:
                signatures.append(encoded)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise VerificationError(f"malformed {_NAME} timestamp")
    if not signatures:
        raise VerificationError(f"no v1 signature in {_NAME} header")
    return int(timestamps[0]), signatures


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """The hex `v1` signature of `body` signed at `timestamp`."""
    return hmac_sha256(secret, str(timestamp).encode("ascii") + b"." + body).hex()


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[bytes],
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """VerificationError (401) for a missing, malformed or wrong signature;
    StaleTimestamp (400) for a genuine one signed outside the tolerance window."""
    value = headers.get(SIGNATURE_HEADER, "")
    if not value.strip():
        raise VerificationError(f"missing {_NAME} header")
    timestamp, offered = _parse_header(value)
    expected = [sign(body, secret, timestamp).encode("ascii") for secret in secrets]
    if not any_match(expected, offered):
        raise VerificationError("signature does not match")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise StaleTimestamp("signature timestamp is outside the tolerance window")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def identify(
    body: bytes, payload: dict[str, Any], headers: Mapping[str, str], received_at: datetime
) -> WebhookDelivery:
    """The delivery, keyed by the event id; its topic is the event type."""
    event_id = payload.get("id")
    event_type = payload.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidPayload("event has no id")
    if not _is_text(event_id):
        # a lone surrogate (from a JSON "\ud800" escape) cannot be keyed or stored in Redis
        raise InvalidPayload("event id is not valid text")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidPayload("event has no type")
    return WebhookDelivery(
        source="stripe",
        topic=event_type,
        delivery_id=event_id,
        received_at=received_at,
        payload=payload,
    )
