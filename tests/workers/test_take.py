"""Take jobs: from the ledger to the outbox, once per delivery, whoever dies when."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from rq import Queue

from adapter.crm.client import CrmClient
from adapter.crm.commands import AnyCommand
from adapter.inbox import Inbox, connect
from adapter.ledger import dedupe_key, digest_of
from adapter.ledger.bell import BELL_QUEUE
from adapter.mapping import MappingError
from adapter.settings import Settings
from adapter.webhook import WebhookDelivery
from tests.support.waiting import wait_until
from tests.workers.commands import SHOP, upsert_deal
from tests.workers.fakecrm import FakeCrm
from workers import intake, scheduling
from workers.context import Context, Options, set_context
from workers.jobs import take_deliveries
from workers.outbox import Kind
from workers.take import take_deliveries as take


@pytest.fixture
def ctx(redis_url: str) -> Iterator[Context]:
    settings = Settings(redis_url=redis_url, crm_api_key="k", crm_base_url="http://crm.test")
    client = CrmClient(settings.crm_base_url, "k", transport=FakeCrm().transport())
    context = Context(settings, Options(linger=0.0, delivery_lease=0.2, max_takes=3), client)
    set_context(context)
    yield context
    set_context(None)
    context.close()


def delivery(delivery_id: str = "wh-1") -> WebhookDelivery:
    return WebhookDelivery(
        source="shopify",
        topic="orders/create",
        delivery_id=delivery_id,
        received_at=datetime(2026, 11, 28, tzinfo=UTC),
        shop_domain=SHOP,
        payload={"id": 1, "email": "buyer@example.com"},
    )


def store(ctx: Context, *items: WebhookDelivery) -> list[str]:
    async def main() -> None:
        inbox = Inbox(connect(ctx.settings.redis_url), dedupe_ttl_seconds=3600)
        try:
            for item in items:
                await inbox.put(item)
        finally:
            await inbox.aclose()

    asyncio.run(main())
    return [digest_of(dedupe_key(item)) for item in items]


def mapper(*commands: AnyCommand) -> Any:
    return lambda *_args: list(commands)


def test_a_take_job_maps_a_delivery_into_the_outbox_and_acks_it(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1), upsert_deal(2)))
    (digest,) = store(ctx, delivery())
    assert take_deliveries() == {"taken": 1, "mapped": 1, "dead": 0, "lost_lease": 0}
    record = ctx.ledger.get(digest)
    assert record is not None
    assert (record.state, record.commands, len(record.outbox)) == ("mapped", 2, 2)
    assert record.external_ids == sorted({upsert_deal(1).external_id, upsert_deal(2).external_id})
    assert ctx.outbox.backlog(Kind.DEALS).total == 2
    assert ctx.ledger.backlog().total == 0


def test_a_settled_delivery_is_kept_compressed_and_reads_back(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    item = delivery().model_copy(update={"payload": {"id": 1, "note": "gift " * 400}})
    (digest,) = store(ctx, item)
    stored = ctx.ledger.get(digest)
    assert stored is not None
    assert stored.body is not None
    take_deliveries()
    settled = ctx.ledger.get(digest)
    assert settled is not None
    assert settled.body is not None
    assert len(settled.body) < len(stored.body) // 4
    assert settled.stored_bytes < stored.stored_bytes
    assert settled.delivery() == item


def test_an_unmappable_delivery_is_dead_lettered_and_acked_as_dead(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: Any) -> list[AnyCommand]:
        raise MappingError("order has no id")

    monkeypatch.setattr(intake, "map_delivery", failing)
    (digest,) = store(ctx, delivery())
    take_deliveries()
    record = ctx.ledger.get(digest)
    assert record is not None
    assert (record.state, record.reason, record.dead_letter) == (
        "dead",
        "order has no id",
        "dlv-wh-1",
    )
    assert ctx.deadletters.get("dlv-wh-1") is not None


def test_a_delivery_whose_worker_died_after_queueing_is_queued_once(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    store(ctx, delivery())
    # a worker that leased it, queued its commands and died before its ack
    (taken,) = ctx.ledger.claim(10, 0.2, "dead-worker")
    intake.accept_delivery(ctx, delivery().model_dump(mode="json"))
    wait_until(lambda: ctx.ledger.backlog().expired == 1, timeout=5, message="lease expired")
    report = take(ctx, budget=5)
    assert (report.taken, report.mapped) == (1, 1)
    assert ctx.outbox.size() == 1
    record = ctx.ledger.get(taken.digest)
    assert record is not None
    assert (record.state, record.takes) == ("mapped", 2)


def test_a_delivery_its_workers_keep_dying_on_is_dead_lettered(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    (digest,) = store(ctx, delivery())
    for n in range(3):
        ctx.ledger.claim(10, 0.05, f"dying-{n}")
        wait_until(lambda: ctx.ledger.backlog().expired == 1, timeout=5, message="expired")
    take(ctx, budget=5)
    record = ctx.ledger.get(digest)
    assert record is not None
    assert record.state == "dead"
    assert "died 3 times" in (record.reason or "")
    assert ctx.outbox.size() == 0


def test_a_replayed_delivery_is_mapped_and_queued_again(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "map_delivery", mapper(upsert_deal(1)))
    (digest,) = store(ctx, delivery())
    take(ctx, budget=5)
    assert ctx.ledger.requeue([digest]) == 1
    assert take(ctx, budget=5).mapped == 1
    # queued again, and merged into the same command still waiting for its request
    assert ctx.outbox.backlog(Kind.DEALS).total == 1
    assert ctx.ledger.get(digest).takes == 2  # type: ignore[union-attr]


def test_the_pump_rings_while_deliveries_wait_and_no_take_job_runs(ctx: Context) -> None:
    queue = Queue(BELL_QUEUE, connection=ctx.rq_redis)
    assert not scheduling.ring_for_deliveries(ctx)
    store(ctx, delivery())
    assert scheduling.ring_for_deliveries(ctx)
    assert queue.count == 1
    assert not scheduling.ring_for_deliveries(ctx)  # one is on its way
