from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapter.sources import shopify
from adapter.sources.errors import InvalidPayload, VerificationError
from tests.support.shared import payload_params

SECRET = b"shpss_current"
OLD_SECRET = b"shpss_previous"


def oracle_hmac(body: bytes, secret: bytes) -> str:
    """Shopify's documented scheme, computed here independently of the code under test."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def headers_for(body: bytes, secret: bytes = SECRET, **extra: str) -> dict[str, str]:
    return {"x-shopify-hmac-sha256": oracle_hmac(body, secret), **extra}


@pytest.mark.parametrize("fixture", payload_params("shopify"))
def test_fixture_signed_over_raw_bytes_verifies(fixture: Path) -> None:
    body = fixture.read_bytes()
    shopify.verify(body, headers_for(body), [SECRET])


def test_non_ascii_body_verifies_only_over_raw_bytes(fixtures_dir: Path) -> None:
    body = (fixtures_dir / "shopify/customers_update.json").read_bytes()
    assert not body.isascii()
    reserialised = json.dumps(json.loads(body)).encode()
    shopify.verify(body, headers_for(body), [SECRET])
    with pytest.raises(VerificationError):
        shopify.verify(reserialised, headers_for(body), [SECRET])


def test_tampered_body_is_refused() -> None:
    body = b'{"id": 1}'
    with pytest.raises(VerificationError):
        shopify.verify(b'{"id": 2}', headers_for(body), [SECRET])


@pytest.mark.parametrize("signed_with", [SECRET, OLD_SECRET])
def test_either_of_two_rotated_secrets_verifies(signed_with: bytes) -> None:
    body = b'{"id": 1}'
    shopify.verify(body, headers_for(body, signed_with), [SECRET, OLD_SECRET])


def test_secret_no_longer_configured_is_refused() -> None:
    body = b'{"id": 1}'
    with pytest.raises(VerificationError):
        shopify.verify(body, headers_for(body, OLD_SECRET), [SECRET])


def test_no_configured_secret_refuses_everything() -> None:
    body = b'{"id": 1}'
    with pytest.raises(VerificationError):
        shopify.verify(body, headers_for(body), [])


@pytest.mark.parametrize(
    "value",
    ["", "   ", "not base64 !!!", "Zm9v", "ü" * 44, "\x00", "a" * 10_000],
    ids=["empty", "blank", "garbage", "short", "non-ascii", "nul", "huge"],
)
def test_malformed_hmac_header_is_a_verification_error(value: str) -> None:
    with pytest.raises(VerificationError):
        shopify.verify(b"{}", {"x-shopify-hmac-sha256": value}, [SECRET])


def test_missing_hmac_header_is_a_verification_error() -> None:
    with pytest.raises(VerificationError):
        shopify.verify(b"{}", {}, [SECRET])


def test_shop_secrets_add_to_global_ones_for_that_shop_only() -> None:
    shop_secrets = {"Store-A.myshopify.com": [SecretStr("admin-made")]}
    keys_a = shopify.signing_keys([SecretStr("app")], shop_secrets, "store-a.myshopify.com")
    keys_b = shopify.signing_keys([SecretStr("app")], shop_secrets, "store-b.myshopify.com")
    assert keys_a == [b"app", b"admin-made"]
    assert keys_b == [b"app"]


def test_shop_domain_is_read_lowercased() -> None:
    assert shopify.shop_domain({"x-shopify-shop-domain": " Store.MyShopify.com "}) == (
        "store.myshopify.com"
    )


def meta(**extra: str) -> dict[str, str]:
    """Headers as the app passes them: lower-case names, as Starlette gives them."""
    headers = {
        "X-Shopify-Hmac-Sha256": "c2lnbmF0dXJl",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "store.myshopify.com",
        "X-Shopify-Triggered-At": "2026-11-28T10:00:00Z",
        "X-Shopify-API-Version": "2026-07",
        **extra,
    }
    return {name.lower(): value for name, value in headers.items()}


NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_identify_keys_by_webhook_id_and_keeps_metadata_without_hmac() -> None:
    headers = meta(**{"X-Shopify-Webhook-Id": "wh-1", "X-Shopify-Event-Id": "ev-1"})
    delivery = shopify.identify(b"{}", {"id": 1}, headers, NOW)
    assert delivery.delivery_id == "wh-1"
    assert delivery.topic == "orders/create"
    assert delivery.shop_domain == "store.myshopify.com"
    assert delivery.source == "shopify"
    assert "X-Shopify-Hmac-Sha256" not in delivery.headers
    assert delivery.headers["X-Shopify-Event-Id"] == "ev-1"
    assert delivery.headers["X-Shopify-API-Version"] == "2026-07"


def test_identify_falls_back_to_event_id_and_topic() -> None:
    delivery = shopify.identify(b"{}", {}, meta(**{"X-Shopify-Event-Id": "ev-1"}), NOW)
    assert delivery.delivery_id == "ev-1:orders/create"


def test_identify_falls_back_to_body_hash() -> None:
    delivery = shopify.identify(b"{}", {}, meta(), NOW)
    assert delivery.delivery_id == "sha256:" + hashlib.sha256(b"{}").hexdigest()


def test_identify_without_topic_is_invalid() -> None:
    headers = meta()
    del headers["x-shopify-topic"]
    with pytest.raises(InvalidPayload):
        shopify.identify(b"{}", {}, headers, NOW)
