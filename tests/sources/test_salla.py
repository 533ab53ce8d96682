"""Salla's Signature and Token strategies, checked against an independent oracle."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapter.sources import salla
from adapter.sources.errors import VerificationError
from adapter.store_settings import SallaMerchant

SAMPLE = Path(salla.__file__).parents[1] / "samples/salla_order.json"
SECRET = b"salla-secret-current"
OLD_SECRET = b"salla-secret-previous"
TOKEN = b"salla-token-current"
OLD_TOKEN = b"salla-token-previous"


def oracle(body: bytes, secret: bytes) -> str:
    """hash_hmac('sha256', $payload, $secret): Salla's documented 64-character hex."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"x-salla-signature": oracle(body, secret), "x-salla-security-strategy": "Signature"}


def token(value: str) -> dict[str, str]:
    return {"authorization": value, "x-salla-security-strategy": "Token"}


def test_sample_signed_over_raw_bytes_verifies() -> None:
    body = SAMPLE.read_bytes()
    salla.verify(body, signature(body), [SECRET], [])


def test_uppercase_hex_signature_verifies() -> None:
    body = b'{"event":"order.created"}'
    salla.verify(body, {"x-salla-signature": oracle(body, SECRET).upper()}, [SECRET], [])


def test_tampered_body_is_refused() -> None:
    with pytest.raises(VerificationError):
        salla.verify(b'{"merchant":2}', signature(b'{"merchant":1}'), [SECRET], [])


def test_wrong_secret_is_refused() -> None:
    body = b"{}"
    with pytest.raises(VerificationError):
        salla.verify(body, signature(body, b"another"), [SECRET], [TOKEN])


@pytest.mark.parametrize("signed_with", [SECRET, OLD_SECRET])
def test_either_rotated_secret_verifies(signed_with: bytes) -> None:
    body = b"{}"
    salla.verify(body, signature(body, signed_with), [SECRET, OLD_SECRET], [])


@pytest.mark.parametrize("value", ["Bearer salla-token-previous", "salla-token-current"])
def test_token_strategy_with_either_token_verifies(value: str) -> None:
    salla.verify(b"{}", token(value), [], [TOKEN, OLD_TOKEN])


def test_token_is_no_signature_secret() -> None:
    # a token configured as a token does not pass as a signing secret, nor the reverse
    body = b"{}"
    with pytest.raises(VerificationError):
        salla.verify(body, token(f"Bearer {SECRET.decode()}"), [SECRET], [TOKEN])
    with pytest.raises(VerificationError):
        salla.verify(body, signature(body, TOKEN), [SECRET], [TOKEN])


def test_wrong_token_is_refused() -> None:
    with pytest.raises(VerificationError):
        salla.verify(b"{}", token("Bearer guess"), [SECRET], [TOKEN])


@pytest.mark.parametrize(
    "headers",
    [
        {"x-salla-signature": ""},
        {"x-salla-signature": "   "},
        {"x-salla-signature": "zz" * 32},
        {"x-salla-signature": "é" * 64},
        {"x-salla-signature": "a" * 10_000},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": "Bearer   "},
        {"authorization": "Bearer ﷺ"},
        {"x-salla-security-strategy": "Token"},
        {},
    ],
    ids=[
        "empty-signature",
        "blank-signature",
        "not-hex",
        "non-ascii",
        "huge",
        "empty-authorization",
        "bare-bearer",
        "blank-bearer",
        "non-ascii-token",
        "strategy-only",
        "nothing",
    ],
)
def test_missing_or_malformed_proof_is_a_verification_error(headers: dict[str, str]) -> None:
    with pytest.raises(VerificationError):
        salla.verify(b"{}", headers, [SECRET], [TOKEN])


def test_merchant_secrets_are_added_for_that_merchant_only() -> None:
    merchants = {"1305146709": SallaMerchant(secrets=[SecretStr("own")], tokens=[SecretStr("t")])}
    glob = [SecretStr("global")]
    assert salla.keys(glob, merchants, "1305146709", tokens=False) == [b"global", b"own"]
    assert salla.keys(glob, merchants, "1305146709", tokens=True) == [b"global", b"t"]
    assert salla.keys(glob, merchants, "999", tokens=False) == [b"global"]
    assert salla.keys(glob, merchants, None, tokens=False) == [b"global"]


@pytest.mark.parametrize(
    ("body", "merchant"),
    [
        (b'{"merchant": 1305146709}', "1305146709"),
        (b'{"merchant": "42"}', "42"),
        (b'{"merchant": true}', None),
        (b'{"merchant": {"id": 1}}', None),
        (b"[1]", None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
    ],
)
def test_merchant_hint_never_raises(body: bytes, merchant: str | None) -> None:
    assert salla.merchant_hint(body) == merchant


def test_identify_keys_on_the_body_and_scopes_by_merchant() -> None:
    received = datetime(2026, 11, 28, tzinfo=UTC)
    payload = {"event": "order.created", "merchant": 1305146709, "data": {}}
    delivery = salla.identify(b"body", payload, {"x-salla-signature": "s"}, received)
    assert delivery.source == "salla"
    assert delivery.topic == "order.created"
    assert delivery.shop_domain == "1305146709"
    assert delivery.delivery_id == "sha256:" + hashlib.sha256(b"body").hexdigest()
    assert delivery.headers == {}
