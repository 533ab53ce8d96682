"""Paymob callbacks: `POST /webhooks/paymob/{integration}?hmac=<hex>`.

Paymob does not sign the body. The transaction processed callback carries
`{"type": "TRANSACTION", "obj": {...}}`, and `hmac` in the query string is the hex
HMAC-SHA512, keyed by the account's HMAC secret, of the values of 20 fields of `obj`
concatenated in the documented (lexicographic) order, booleans written `true`/`false`
(developers.paymob.com, "HMAC Transaction Callback"). Card token callbacks
(`"type": "TOKEN"`) use 8 other fields the same way; they are verified, then ignored.

So the body is parsed before the proof is checked: a body that is not a JSON object
cannot be verified and is answered 400; a missing or malformed `hmac` is 401 before
anything is parsed. A value that is absent or null counts as an empty string (what
Paymob's SDKs do); that case is not in Paymob's examples.

The transaction response callback (a GET with the same fields in the query string) is
where Paymob sends the *customer's browser* after paying: it is a redirect, not a
server-to-server delivery, and is not served here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from adapter.signing import PAYMOB_TRANSACTION_FIELDS
from adapter.sources.errors import InvalidPayload, VerificationError
from adapter.sources.signing import any_match
from adapter.store_settings import PaymobIntegration
from adapter.webhook import WebhookDelivery

TRANSACTION = "TRANSACTION"
TOKEN = "TOKEN"  # noqa: S105 - a callback type

TRANSACTION_FIELDS = PAYMOB_TRANSACTION_FIELDS
TOKEN_FIELDS = (
    "card_subtype",
    "created_at",
    "email",
    "id",
    "masked_pan",
    "merchant_id",
    "order_id",
    "token",
)
FIELDS = {TRANSACTION: TRANSACTION_FIELDS, TOKEN: TOKEN_FIELDS}

_HEX_SHA512 = re.compile(r"[0-9a-f]{128}")


def signing_keys(
    global_secrets: Sequence[SecretStr], integration: PaymobIntegration | None
) -> list[bytes]:
    secrets = [*global_secrets, *(integration.secrets if integration is not None else [])]
    return [secret.get_secret_value().encode("utf-8") for secret in secrets]


def offered_hmac(query: Mapping[str, str]) -> bytes:
    """The `hmac` query parameter, checked for shape before anything is parsed."""
    value = query.get("hmac", "").strip().lower()
    if not _HEX_SHA512.fullmatch(value):
        raise VerificationError("missing or malformed hmac query parameter")
    return value.encode("ascii")


def _value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            # `order` is an object in the processed callback; an id elsewhere
            break
        value = value.get(part)
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None or isinstance(value, list | Mapping):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signed_string(payload: Mapping[str, Any]) -> str:
    """The concatenation Paymob signs, for a TRANSACTION or TOKEN callback."""
    kind = payload.get("type")
    obj = payload.get("obj")
    fields = FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None or not isinstance(obj, Mapping):
        raise VerificationError("not a TRANSACTION or TOKEN callback: nothing to verify")
    return "".join(_value(obj, name) for name in fields)


def sign(payload: Mapping[str, Any], secret: bytes) -> str:
    """The `hmac` Paymob sends with this callback."""
    message = signed_string(payload).encode("utf-8", errors="surrogatepass")
    return hmac.new(secret, message, hashlib.sha512).hexdigest()


def verify(payload: Mapping[str, Any], offered: bytes, secrets: Sequence[bytes]) -> None:
    """Raise VerificationError unless `offered` (from `offered_hmac`) matches any secret."""
    expected = [sign(payload, secret).encode("ascii") for secret in secrets]
    if not any_match(expected, [offered]):
        raise VerificationError("hmac does not match")


def identify(integration: str, payload: dict[str, Any], received_at: datetime) -> WebhookDelivery:
    """The delivery, keyed by the transaction id and a hash of its signed state.

    Paymob calls back again when a transaction changes (a pending kiosk payment that is
    paid, a refund, a void), with the same id: only a callback of the same transaction
    in the same state is a duplicate.
    """
    obj = payload.get("obj")
    transaction_id = _value(obj, "id") if isinstance(obj, Mapping) else ""
    if not transaction_id:
        raise InvalidPayload("callback has no obj.id")
    try:
        transaction_id.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (a JSON "\ud800" escape) cannot be keyed or stored in Redis
        raise InvalidPayload("obj.id is not valid text") from None
    state = hashlib.sha256(
        signed_string(payload).encode("utf-8", errors="surrogatepass")
    ).hexdigest()[:32]
    kind = str(payload["type"])
    return WebhookDelivery(
        source="paymob",
        topic=kind,
        delivery_id=f"{kind}:{transaction_id[:64]}:{state}",
        received_at=received_at,
        shop_domain=integration,
        payload=payload,
    )
