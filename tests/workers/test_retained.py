"""Shopify's redaction webhooks purge the retained deliveries they name (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapter.crm.client import CrmClient
from adapter.inbox import Inbox, connect
from adapter.ledger import dedupe_key, digest_of
from adapter.samples import load_sample
from adapter.settings import Settings
from adapter.webhook import WebhookDelivery
from tests.workers.fakecrm import FakeCrm
from workers.context import Context, Options, set_context
from workers.take import take_deliveries as take

SHOP = "redact-test.myshopify.com"
OTHER_SHOP = "other.myshopify.com"


@pytest.fixture
def ctx(redis_url: str) -> Iterator[Context]:
    settings = Settings(redis_url=redis_url, crm_api_key="k", crm_base_url="http://crm.test")
    client = CrmClient(settings.crm_base_url, "k", transport=FakeCrm().transport())
    context = Context(settings, Options(linger=0.0, delivery_lease=5.0), client)
    set_context(context)
    yield context
    set_context(None)
    context.close()


def delivery(
    topic: str, delivery_id: str, payload: dict[str, Any], shop: str = SHOP
) -> WebhookDelivery:
    return WebhookDelivery(
        source="shopify",
        topic=topic,
        delivery_id=delivery_id,
        received_at=datetime.now(UTC),
        shop_domain=shop,
        payload=payload,
    )


def order(order_id: int, customer_id: int, email: str) -> dict[str, Any]:
    body = load_sample("shopify", "orders/create")
    body.update(id=order_id, name=f"#{order_id}", email=email)
    body["customer"] = {**body.get("customer", {}), "id": customer_id, "email": email}
    return body


def store_and_take(ctx: Context, *items: WebhookDelivery) -> list[str]:
    async def main() -> None:
        inbox = Inbox(connect(ctx.settings.redis_url), dedupe_ttl_seconds=3600)
        try:
            for item in items:
                await inbox.put(item)
        finally:
            await inbox.aclose()

    asyncio.run(main())
    take(ctx, budget=10)
    return [digest_of(dedupe_key(item)) for item in items]


def retained(ctx: Context) -> set[str]:
    return {r.delivery_id for r in ctx.ledger.listing(limit=1000)}


def test_customers_redact_forgets_the_customer_s_retained_deliveries(ctx: Context) -> None:
    store_and_take(
        ctx,
        delivery("orders/create", "ada-1", order(1001, 7, "ada@example.org")),
        delivery("orders/create", "ada-2", order(1002, 7, "ada@example.org")),
        delivery("orders/create", "bob-1", order(1003, 8, "bob@example.org")),
        delivery("orders/create", "ada-elsewhere", order(1001, 7, "ada@example.org"), OTHER_SHOP),
    )
    redact = {
        "shop_domain": SHOP,
        "customer": {"id": 7, "email": "ada@example.org", "phone": None},
        "orders_to_redact": [1001],
    }
    store_and_take(ctx, delivery("customers/redact", "redact-ada", redact))
    assert retained(ctx) == {"bob-1", "ada-elsewhere", "redact-ada"}


def test_shop_redact_forgets_every_retained_delivery_of_the_shop(ctx: Context) -> None:
    store_and_take(
        ctx,
        delivery("orders/create", "ada-1", order(1001, 7, "ada@example.org")),
        delivery("orders/create", "other-1", order(1001, 7, "ada@example.org"), OTHER_SHOP),
    )
    store_and_take(ctx, delivery("shop/redact", "redact-shop", {"shop_domain": SHOP}))
    assert retained(ctx) == {"other-1", "redact-shop"}
