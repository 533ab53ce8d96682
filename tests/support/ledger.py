"""What the delivery ledger holds, read the way trace and replay read it."""

from __future__ import annotations

from typing import Any

import redis

from adapter.ledger import Ledger


def stored_deliveries(store: redis.Redis) -> list[dict[str, Any]]:
    """Every delivery in the ledger (as WebhookDelivery JSON), oldest first (`store`
    must return bytes)."""
    found = []
    for record in Ledger(store).listing(limit=100_000):
        delivery = record.delivery()
        if delivery is not None:
            found.append(delivery.model_dump(mode="json"))
    return found
