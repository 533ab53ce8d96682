from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe as stripe_sdk

from adapter.sources import stripe
from adapter.sources.errors import InvalidPayload, StaleTimestamp, VerificationError
from tests.support.shared import own_fixture, payload_params

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
KEYS = [SECRET.encode()]


def stripe_header(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Signed by the stripe package's own test helper: the oracle."""
    return str(
        stripe_sdk.WebhookSignature.generate_signature_header(
            body.decode("utf-8"), secret, timestamp=timestamp
        )
    )


def verify(body: bytes, header: str, keys: list[bytes] = KEYS, now: float | None = None) -> None:
    stripe.verify(body, {"stripe-signature": header}, keys, 300, now=now)


@pytest.mark.parametrize("fixture", payload_params("stripe"))
def test_fixture_signed_by_stripe_sdk_verifies(fixture: Path) -> None:
    body = fixture.read_bytes()
    verify(body, stripe_header(body))


def test_our_signature_passes_stripe_sdk_verification() -> None:
    body = own_fixture("stripe/charge.refunded.json").read_bytes()
    now = int(time.time())
    header = f"t={now},v1={stripe.sign(body, SECRET.encode(), now)}"
    event = stripe_sdk.Webhook.construct_event(body.decode(), header, SECRET)
    assert event.id == "evt_1Qrefund000000000000001"


def test_any_v1_during_a_roll_matches() -> None:
    body = b'{"id": "evt_1"}'
    now = int(time.time())
    old = stripe_header(body, OLD_SECRET, now).split(",")[1]
    header = f"{stripe_header(body, SECRET, now)},{old}"
    verify(body, header, [OLD_SECRET.encode()])


@pytest.mark.parametrize("signed_with", [SECRET, OLD_SECRET])
def test_either_of_two_configured_secrets_verifies(signed_with: str) -> None:
    body = b'{"id": "evt_1"}'
    verify(body, stripe_header(body, signed_with), [SECRET.encode(), OLD_SECRET.encode()])


def test_wrong_secret_is_refused() -> None:
    body = b'{"id": "evt_1"}'
    with pytest.raises(VerificationError):
        verify(body, stripe_header(body, "whsec_other"))


def test_v0_signature_is_ignored() -> None:
    body = b'{"id": "evt_1"}'
    now = int(time.time())
    header = f"t={now},v0={stripe.sign(body, KEYS[0], now)}"
    with pytest.raises(VerificationError):
        verify(body, header)


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_outside_window_in_either_direction_is_stale(offset: int) -> None:
    body = b'{"id": "evt_1"}'
    now = int(time.time())
    header = stripe_header(body, timestamp=now + offset)
    with pytest.raises(StaleTimestamp):
        verify(body, header, now=now)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_the_window_edge_verifies(offset: int) -> None:
    body = b'{"id": "evt_1"}'
    now = int(time.time())
    verify(body, stripe_header(body, timestamp=now + offset), now=now)


def test_stale_timestamp_with_wrong_signature_is_unauthorized() -> None:
    body = b'{"id": "evt_1"}'
    header = stripe_header(body, "whsec_other", timestamp=1)
    with pytest.raises(VerificationError):
        verify(body, header)


GOOD_V1 = "v1=" + "0" * 64


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=abc",
        f"t=abc,{GOOD_V1}",
        f"t=-5,{GOOD_V1}",
        f"t={'9' * 5000},{GOOD_V1}",
        "t=1700000000",
        GOOD_V1,
        f"t=1,t=2,{GOOD_V1}",
        "t=1700000000,v1=ü",
        "t=1700000000,v1",
        "t=١٢٣,v1=00",
        ",,,",
    ],
)
def test_malformed_signature_header_is_a_verification_error(header: str) -> None:
    with pytest.raises(VerificationError):
        verify(b"{}", header)


def test_missing_signature_header_is_a_verification_error() -> None:
    with pytest.raises(VerificationError):
        stripe.verify(b"{}", {}, KEYS, 300)


NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_identify_keys_by_event_id_with_type_as_topic() -> None:
    payload = {"id": "evt_123", "type": "customer.created", "data": {}}
    delivery = stripe.identify(b"{}", payload, {}, NOW)
    assert (delivery.source, delivery.topic, delivery.delivery_id) == (
        "stripe",
        "customer.created",
        "evt_123",
    )
    assert delivery.headers == {}


@pytest.mark.parametrize(
    "payload", [{"type": "x"}, {"id": 5, "type": "x"}, {"id": "evt_1"}, {"id": "evt_1", "type": ""}]
)
def test_identify_without_id_or_type_is_invalid(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidPayload):
        stripe.identify(b"{}", payload, {}, NOW)
