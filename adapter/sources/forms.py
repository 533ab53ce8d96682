"""Lead forms: `POST /webhooks/forms/{form_id}`, each form with its own authentication.

- `standard_webhooks`: `webhook-id`, `webhook-timestamp`, `webhook-signature` checked by the
  `standardwebhooks` package. It raises ValueError or binascii.Error on a garbage header,
  not its own error, so every failure of it is turned into our VerificationError here.
- `hmac`: `X-Signature: sha256=<hex>` over the raw body (header name configurable).
- `token`: a shared token in a header (`X-Form-Token` unless configured), for no-code
  tools that cannot sign.

Bodies are JSON objects or urlencoded fields (a repeated field becomes a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from standardwebhooks import Webhook

from adapter.settings import FormAuth, FormConfig
from adapter.sources.body import body_digest, decode_utf8, parse_json_object
from adapter.sources.errors import (
    InvalidPayload,
    UnsupportedMediaType,
    VerificationError,
)
from adapter.sources.signing import any_match, ascii_bytes, hmac_sha256
from adapter.webhook import WebhookDelivery

# `headers` arguments are looked up by lower-case name: pass Starlette's Headers,
# or a dict of its items
DEFAULT_HMAC_HEADER = "X-Signature"
DEFAULT_TOKEN_HEADER = "X-Form-Token"  # noqa: S105 - a header name
HMAC_PREFIX = "sha256="
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"

JSON = "application/json"
URLENCODED = "application/x-www-form-urlencoded"
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii"})


def check_auth(auth: FormAuth) -> None:
    """Raise ValueError at startup for secrets the chosen scheme cannot use."""
    if auth.kind == "standard_webhooks":
        for secret in auth.secrets:
            try:
                Webhook(secret.get_secret_value())
            except Exception:
                raise ValueError("a standard_webhooks secret is not a valid whsec_ key") from None


def _standard_webhooks(body: bytes, headers: Mapping[str, str], auth: FormAuth) -> None:
    offered = {
        name: headers.get(name, "") for name in (WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE)
    }
    if not all(offered.values()):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    for secret in auth.secrets:
        try:
            Webhook(secret.get_secret_value()).verify(body, offered, json_parse=False)
        except Exception:  # noqa: S112 - any failure of the library means "not this secret"
            continue
        return
    raise VerificationError("signature does not match or headers are malformed")


def _hmac(body: bytes, headers: Mapping[str, str], auth: FormAuth) -> None:
    name = auth.header or DEFAULT_HMAC_HEADER
    value = headers.get(name.lower(), "").strip()
    if not value.lower().startswith(HMAC_PREFIX):
        raise VerificationError(f"missing or malformed {name} header")
    offered = ascii_bytes(value[len(HMAC_PREFIX) :].strip().lower())
    if not offered:
        raise VerificationError(f"missing or malformed {name} header")
    expected = [
        hmac_sha256(secret.get_secret_value().encode("utf-8"), body).hex().encode("ascii")
        for secret in auth.secrets
    ]
    if not any_match(expected, [offered]):
        raise VerificationError("signature does not match")


def _token(headers: Mapping[str, str], auth: FormAuth) -> None:
    name = auth.header or DEFAULT_TOKEN_HEADER
    offered = ascii_bytes(headers.get(name.lower(), ""))
    if not offered:
        raise VerificationError(f"missing or malformed {name} header")
    expected = [secret.get_secret_value().encode("utf-8") for secret in auth.secrets]
    if not any_match(expected, [offered]):
        raise VerificationError("token does not match")


def verify(body: bytes, headers: Mapping[str, str], auth: FormAuth) -> None:
    """Raise VerificationError unless the delivery carries this form's proof."""
    if auth.kind == "standard_webhooks":
        _standard_webhooks(body, headers, auth)
    elif auth.kind == "hmac":
        _hmac(body, headers, auth)
    else:
        _token(headers, auth)


def _media_type(content_type: str) -> tuple[str, str | None]:
    media, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _fields(text: str) -> dict[str, Any]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("form fields are not valid UTF-8") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name not in fields:
            fields[name] = value
        elif isinstance(fields[name], list):
            fields[name].append(value)
        else:
            fields[name] = [fields[name], value]
    return fields


def parse(body: bytes, content_type: str) -> dict[str, Any]:
    """The body as a JSON object: parsed JSON, or the urlencoded fields."""
    media, charset = _media_type(content_type)
    if media not in (JSON, URLENCODED) or (charset is not None and charset not in _UTF8_CHARSETS):
        raise UnsupportedMediaType(f"content type must be {JSON} or {URLENCODED}")
    if media == JSON:
        return parse_json_object(body)
    return _fields(decode_utf8(body))


def is_spam(payload: Mapping[str, Any], form: FormConfig) -> bool:
    """Whether the honeypot field, invisible to people, was filled in."""
    if not form.honeypot_field:
        return False
    return _filled(payload.get(form.honeypot_field))


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list):
        return any(_filled(item) for item in value)
    return bool(value)


def identify(
    form_id: str,
    body: bytes,
    payload: dict[str, Any],
    headers: Mapping[str, str],
    auth: FormAuth,
    received_at: datetime,
) -> WebhookDelivery:
    """The delivery, keyed by `webhook-id` when the sender gives one, else the body's hash."""
    kept: dict[str, str] = {}
    delivery_id = body_digest(body)
    if auth.kind == "standard_webhooks":
        kept = {name: headers[name] for name in (WEBHOOK_ID, WEBHOOK_TIMESTAMP)}
        delivery_id = headers[WEBHOOK_ID]
    return WebhookDelivery(
        source="form",
        topic=form_id,
        delivery_id=delivery_id,
        received_at=received_at,
        form_id=form_id,
        headers=kept,
        payload=payload,
    )
