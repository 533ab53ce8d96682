"""The webhooks of N order lifecycles, interleaved, with re-deliveries and late older
updates; and the state each order must end in.

Each order: orders/create (pending) -> orders/paid -> orders/updated (total changes)
-> orders/fulfilled -> orders/updated (tags change), each a minute newer in the
order's `updated_at`. The payloads are synthetic (the fields the mapping reads).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

SECRET = "shpss_lifecycle_bench"  # noqa: S105 - the benchmark's own throwaway secret
SHOP = "lifecycle-bench.myshopify.com"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
REDELIVERED = 0.10  # share of webhooks the provider sends twice
LATE = 0.05  # share of orders that get an older orders/updated after everything else


@dataclass(frozen=True)
class Webhook:
    topic: str
    webhook_id: str
    body: bytes

    def headers(self) -> dict[str, str]:
        digest = hmac.new(SECRET.encode(), self.body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": self.webhook_id,
            "X-Shopify-API-Version": "2026-07",
        }


@dataclass(frozen=True)
class Final:
    """What the deal of one order must hold in the end."""

    stage: str
    value: Decimal
    financial_status: str
    fulfillment_status: str


def external_id(n: int) -> str:
    return f"shopify:{SHOP}:order:{order_id(n)}"


def order_id(n: int) -> int:
    return 5_000_000_000 + n


def _order(
    n: int, step: int, financial: str, fulfillment: str | None, total: str, tags: str
) -> bytes:
    body = {
        "id": order_id(n),
        "order_number": 1000 + n,
        "name": f"#{1000 + n}",
        "email": f"buyer{n}@example.com",
        "currency": "EUR",
        "total_price": total,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "tags": tags,
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(minutes=step)).isoformat(),
        "customer": {
            "first_name": "Bench",
            "last_name": f"Buyer {n}",
            "email": f"buyer{n}@example.com",
        },
        "line_items": [{"name": "Mug", "sku": "MUG-1", "quantity": 2, "price": "20.00"}],
    }
    return json.dumps(body).encode()


def lifecycle(n: int) -> list[Webhook]:
    base, later = f"{40 + n % 50}.00", f"{45 + n % 50}.00"
    steps = [
        ("orders/create", "pending", None, base, "web"),
        ("orders/paid", "paid", None, base, "web"),
        ("orders/updated", "paid", None, later, "web"),
        ("orders/fulfilled", "paid", "fulfilled", later, "web"),
        ("orders/updated", "paid", "fulfilled", later, "web, gift"),
    ]
    return [
        Webhook(topic, f"wh-{n}-{step}", _order(n, step, fin, ful, total, tags))
        for step, (topic, fin, ful, total, tags) in enumerate(steps)
    ]


def final(n: int) -> Final:
    return Final("won", Decimal(f"{45 + n % 50}.00"), "paid", "fulfilled")


def late_update(n: int) -> Webhook:
    """An orders/updated of step 1's state (older than the last), sent last."""
    return Webhook("orders/updated", f"wh-{n}-late", _order(n, 1, "pending", None, "1.00", "web"))


def webhooks(orders: int, seed: int = 12) -> list[Webhook]:
    """Every order's lifecycle in its own order, interleaved across orders; some sent
    twice (a later copy with the same webhook id), some orders with a late older update."""
    rng = random.Random(seed)
    queues = [lifecycle(n) for n in range(orders)]
    out: list[Webhook] = []
    live = [q for q in queues if q]
    while live:
        # a few orders in flight at once, as a shop's traffic interleaves them
        q = live[rng.randrange(min(len(live), 50))]
        out.append(q.pop(0))
        live = [q for q in live if q]
    for hook in list(out):
        if rng.random() < REDELIVERED:
            out.insert(rng.randrange(out.index(hook) + 1, len(out) + 1), hook)
    out.extend(late_update(n) for n in range(orders) if rng.random() < LATE)
    return out
