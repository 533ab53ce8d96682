"""WooCommerce signatures, against an oracle of WC_Webhook::generate_signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapter.sources import woocommerce
from adapter.sources.errors import VerificationError
from adapter.store_settings import WooCommerceStore

SAMPLE = Path(woocommerce.__file__).parents[1] / "samples/woocommerce_order.json"
SECRET = b"wc-secret-current"
OLD_SECRET = b"wc-secret-previous"
RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def oracle(body: bytes, secret: bytes) -> str:
    """base64_encode(hash_hmac('sha256', $payload, $secret, true)), as WooCommerce signs."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def signed(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"x-wc-webhook-signature": oracle(body, secret), "x-wc-webhook-topic": "order.created"}


def test_sample_order_signed_over_raw_bytes_verifies() -> None:
    body = SAMPLE.read_bytes()
    assert not body.isascii()
    woocommerce.verify(body, signed(body), [SECRET])


def test_php_escaped_unicode_body_verifies_only_as_sent() -> None:
    # wp_json_encode escapes non-ASCII as \uXXXX: the signature covers those bytes
    body = b'{"billing":{"first_name":"\\u0646\\u0648\\u0631\\u0629"}}'
    woocommerce.verify(body, signed(body), [SECRET])
    with pytest.raises(VerificationError):
        woocommerce.verify('{"billing":{"first_name":"نورة"}}'.encode(), signed(body), [SECRET])


def test_tampered_body_is_refused() -> None:
    with pytest.raises(VerificationError):
        woocommerce.verify(b'{"id": 2}', signed(b'{"id": 1}'), [SECRET])


def test_wrong_secret_is_refused() -> None:
    body = b'{"id": 1}'
    with pytest.raises(VerificationError):
        woocommerce.verify(body, signed(body, b"someone-else"), [SECRET])


@pytest.mark.parametrize("signed_with", [SECRET, OLD_SECRET])
def test_either_rotated_secret_verifies(signed_with: bytes) -> None:
    body = b'{"id": 1}'
    woocommerce.verify(body, signed(body, signed_with), [SECRET, OLD_SECRET])


def test_store_secret_is_tried_with_the_global_ones() -> None:
    store = WooCommerceStore(secrets=[SecretStr("store-own")])
    keys = woocommerce.signing_keys([SecretStr(SECRET.decode())], store)
    body = b'{"id": 1}'
    woocommerce.verify(body, signed(body, b"store-own"), keys)
    woocommerce.verify(body, signed(body, SECRET), keys)
    assert woocommerce.signing_keys([], None) == []


def test_no_configured_secret_refuses_everything() -> None:
    body = b'{"id": 1}'
    with pytest.raises(VerificationError):
        woocommerce.verify(body, signed(body), [])


@pytest.mark.parametrize(
    "value",
    ["", "   ", "not base64 !!!", "Zm9v", "ü" * 44, "\x00", "a" * 10_000],
    ids=["empty", "blank", "garbage", "short", "non-ascii", "nul", "huge"],
)
def test_malformed_signature_header_is_a_verification_error(value: str) -> None:
    with pytest.raises(VerificationError):
        woocommerce.verify(b"{}", {"x-wc-webhook-signature": value}, [SECRET])


def test_missing_signature_header_is_a_verification_error() -> None:
    with pytest.raises(VerificationError):
        woocommerce.verify(b"{}", {}, [SECRET])


@pytest.mark.parametrize("body", [b"webhook_id=12", b"webhook_id=12\n"])
def test_unsigned_creation_ping_is_recognised(body: bytes) -> None:
    assert woocommerce.is_ping(body, {})


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"webhook_id=12", {"x-wc-webhook-signature": "abc"}),
        (b"webhook_id=12&x=1", {}),
        (b'{"webhook_id": 12}', {}),
        (b"", {}),
    ],
)
def test_anything_else_is_no_ping(body: bytes, headers: dict[str, str]) -> None:
    assert not woocommerce.is_ping(body, headers)


def test_topic_falls_back_to_resource_and_event() -> None:
    assert woocommerce.topic_of({"x-wc-webhook-topic": "order.updated"}) == "order.updated"
    headers = {"x-wc-webhook-resource": "order", "x-wc-webhook-event": "created"}
    assert woocommerce.topic_of(headers) == "order.created"
    assert woocommerce.topic_of({}) == ""


def test_same_delivery_id_with_another_body_is_another_delivery() -> None:
    # the delivery id is wp_hash(webhook id . current second): it repeats within a second
    headers = {"x-wc-webhook-delivery-id": "36e520eb", "x-wc-webhook-topic": "order.created"}
    first = woocommerce.identify("riyadh-oud", b'{"id":1}', {"id": 1}, headers, RECEIVED)
    again = woocommerce.identify("riyadh-oud", b'{"id":1}', {"id": 1}, headers, RECEIVED)
    other = woocommerce.identify("riyadh-oud", b'{"id":2}', {"id": 2}, headers, RECEIVED)
    assert first.delivery_id == again.delivery_id != other.delivery_id
    assert first.delivery_id.startswith("36e520eb:sha256:")
    assert (first.source, first.topic, first.shop_domain) == (
        "woocommerce",
        "order.created",
        "riyadh-oud",
    )
    assert "x-wc-webhook-signature" not in {k.lower() for k in first.headers}
