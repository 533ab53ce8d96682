"""The stored form of a delivery: what the web side writes is what a worker reads."""

from __future__ import annotations

from datetime import UTC, datetime

from adapter.ledger.record import decode_delivery, encode_delivery
from adapter.webhook import WebhookDelivery


def delivery(payload: dict[str, object]) -> WebhookDelivery:
    return WebhookDelivery(
        source="form",
        topic="lead",
        delivery_id="sha256:" + "0" * 64,
        received_at=datetime(2026, 12, 7, 2, 50, tzinfo=UTC),
        form_id="lead",
        payload=payload,
    )


def test_a_payload_with_a_lone_surrogate_is_stored_and_reads_back() -> None:
    # valid JSON ('{"id": "\ud800"}'), not valid UTF-8: a form's parsed body can hold it
    original = delivery({"id": "\ud800", "name": "Zoë"})
    stored = encode_delivery(original)
    assert decode_delivery(stored) == original


def test_a_plain_payload_is_stored_as_pydantic_writes_it() -> None:
    original = delivery({"email": "ada@example.com"})
    assert encode_delivery(original) == original.model_dump_json().encode("utf-8")
    assert decode_delivery(encode_delivery(original)) == original
