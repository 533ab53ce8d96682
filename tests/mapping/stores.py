"""Deliveries of the WooCommerce, Salla and Paymob samples for mapper tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapter import samples
from adapter.crm.commands import AnyCommand, commands_to_json
from adapter.mapping import MappingConfig, map_delivery
from adapter.webhook import SourceName, WebhookDelivery

RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def delivery(
    source: SourceName, topic: str, payload: dict[str, Any], store: str | None
) -> WebhookDelivery:
    return WebhookDelivery(
        source=source,
        topic=topic,
        delivery_id="d-1",
        received_at=RECEIVED,
        shop_domain=store,
        payload=payload,
    )


def sample(source: str, topic: str) -> dict[str, Any]:
    return samples.load_sample(source, topic)


def mapped(
    source: SourceName,
    topic: str,
    payload: dict[str, Any],
    store: str | None,
    config: MappingConfig | None = None,
) -> list[dict[str, Any]]:
    commands: list[AnyCommand] = map_delivery(
        delivery(source, topic, payload, store), config or MappingConfig()
    )
    return commands_to_json(commands)
